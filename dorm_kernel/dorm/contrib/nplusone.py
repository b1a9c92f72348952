"""N+1 query detection (spec features-4.0 §20; docs/contrib.md).

Public API::

    NPlusOneDetector(threshold=5, *, raise_on_detect=True, ignore=DEFAULT_IGNORE)
    detect(threshold=5, raise_on_detect=False)      # with detect() as d: ... d.detections
    adetect(threshold=5, raise_on_detect=False)     # async with adetect() as d: ...
    assert_no_nplusone(threshold=5)                 # with / async with: raises NPlusOneError
    NPlusOneError(AssertionError)                   # .detections
    Detection                                        # one repeated statement
    install_global_detector(threshold=5) / uninstall_global_detector()

Contract:

* A detector is a sync and an async context manager. While its block runs it counts
  the statements executed **in the current thread or task** (and in tasks created
  inside the block), through the ``post_query`` signal, grouped per database alias
  and *normalised SQL template*: string and number literals and bound parameters
  become ``?``, ``IN (?, ?, ...)`` lists and multi-row ``VALUES`` collapse, whitespace
  is folded. Statements of other threads and of concurrently running tasks are not
  counted.
* A template that ran ``threshold`` times or more is an N+1 *detection*. At the end of
  a block that did not raise, detections raise ``NPlusOneError`` (``raise_on_detect=True``)
  or are logged as one WARNING on the ``dorm.contrib.nplusone`` logger.
* Each detection names the statement, the count, where the code first repeated it
  (file, line, function outside dorm) and, when dorm can tell, the model and relation
  loaded one instance at a time with the fix: a lazy forward foreign key or one-to-one
  (``book.author``, ``await book.aget_related("author")``) → ``select_related`` /
  ``prefetch_related``; a reverse foreign key manager (``author.books.all()``) →
  ``prefetch_related``.
* ``ignore``: regular expressions (strings, searched case-insensitively, or compiled
  patterns) matched against the template; a match is not counted. ``DEFAULT_IGNORE``
  skips everything but reads (``SELECT``/``WITH``: a loop of writes is a job for
  ``bulk_create``/``bulk_update``, not an N+1) and dorm's migration bookkeeping.
  Pass ``ignore=()`` to count every statement.
* Setting ``DEBUG_NPLUSONE = True`` (or a threshold ``>= 2``) installs a global detector
  (``settings.on_change``): it never raises, and logs one WARNING per burst of identical
  statements (``threshold`` of them within one second in one thread or task).
* Cost: nothing is connected while no detector is active; while one is, every
  statement pays a template lookup (cached per SQL string) and a dict increment.
"""
from __future__ import annotations

import asyncio
import logging
import re
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from dorm.models import related_descriptors as _rd

from ._observe import ScopedObserver

__all__ = [
    "DEFAULT_IGNORE",
    "Detection",
    "NPlusOneDetector",
    "NPlusOneError",
    "adetect",
    "assert_no_nplusone",
    "detect",
    "install_global_detector",
    "normalize_sql",
    "uninstall_global_detector",
]

logger = logging.getLogger("dorm.contrib.nplusone")

#: Templates not counted by default: anything but a read, dorm's migration table, and
#: ``SELECT 1``-style health checks.
DEFAULT_IGNORE: tuple[str, ...] = (
    r"^(?!\(*\s*(SELECT|WITH)\b)",
    r"\bdorm_migrations\b",
    r"^SELECT \?$",
)

_observer = ScopedObserver("nplusone")

# ---- SQL templates ---------------------------------------------------------------------
_STRING = re.compile(r"'(?:[^']|'')*'")
_PARAM = re.compile(r"%\(\w+\)s|%s|\$\d+")
_NUMBER = re.compile(r"(?<![\w\"$.?])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w\"])")
_LIST = re.compile(r"\(\s*\?(?:\s*,\s*\?)*\s*\)")
_ROWS = re.compile(r"\(\.\.\.\)(?:\s*,\s*\(\.\.\.\))+")
_SPACE = re.compile(r"\s+")
_templates: dict[str, str] = {}
_TEMPLATE_CACHE = 4096


def normalize_sql(sql: str) -> str:
    """The template of ``sql``: literals and parameters as ``?``, lists as ``(...)``.

    ``normalize_sql('SELECT * FROM t WHERE id IN (1, 2, 3) AND n = %s')`` is
    ``'SELECT * FROM t WHERE id IN (...) AND n = ?'``. Cached per SQL string.
    """
    template = _templates.get(sql)
    if template is None:
        text = _STRING.sub("?", sql)
        text = _PARAM.sub("?", text)
        text = _NUMBER.sub("?", text)
        text = _LIST.sub("(...)", text)
        text = _ROWS.sub("(...)", text)
        template = _SPACE.sub(" ", text).strip()
        if len(_templates) >= _TEMPLATE_CACHE:
            _templates.clear()
        _templates[sql] = template
    return template


def _compile_ignore(ignore) -> tuple[re.Pattern, ...]:
    if isinstance(ignore, (str, re.Pattern)):
        ignore = (ignore,)
    if not isinstance(ignore, Iterable):
        raise TypeError(f"ignore must be an iterable of regular expressions (str or re.Pattern), "
                        f"got {type(ignore).__name__}")
    out = []
    for item in ignore:
        if isinstance(item, re.Pattern):
            out.append(item)
        elif isinstance(item, str):
            try:
                out.append(re.compile(item, re.IGNORECASE))
            except re.error as exc:
                raise ValueError(f"ignore pattern {item!r} is not a valid regular expression: "
                                 f"{exc}") from None
        else:
            raise TypeError(f"ignore entries must be str or re.Pattern, got {item!r}")
    return tuple(out)


def _check_threshold(threshold) -> int:
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 2:
        raise ValueError("threshold must be an integer >= 2 (how many identical statements "
                         f"make an N+1), got {threshold!r}")
    return threshold


# ---- what caused it -------------------------------------------------------------------
@dataclass(frozen=True)
class Detection:
    """One statement template that ran ``count`` times in a detector's block.

    ``model``/``relation``/``kind`` name the relation loaded one instance at a time
    when dorm can tell (``kind``: ``"forward"``, ``"reverse_one_to_one"``,
    ``"reverse_many"``), else ``None``. ``location`` is ``"file:line in function"`` of
    the code outside dorm that ran the statement when it reached the threshold.
    """

    alias: str
    template: str
    count: int
    model: type | None = None
    relation: str | None = None
    kind: str | None = None
    location: str | None = None

    @property
    def hint(self) -> str | None:
        """The fix, when the relation is known."""
        if self.model is None or self.relation is None:
            return None
        name, rel = self.model.__name__, self.relation
        if self.kind == "reverse_many":
            return (f"{name}.{rel} was queried once per {name} (reverse foreign key): "
                    f"use {name}.objects.prefetch_related({rel!r})")
        what = "lazy foreign key" if self.kind == "forward" else "lazy one-to-one"
        return (f"{name}.{rel} was loaded one instance at a time ({what}): use "
                f"{name}.objects.select_related({rel!r}) or prefetch_related({rel!r})")

    def __str__(self) -> str:
        sql = self.template if len(self.template) <= 300 else self.template[:300] + " ..."
        lines = [f"{self.count}x on database {self.alias!r}: {sql}"]
        if self.hint:
            lines.append(f"    {self.hint}")
        if self.location:
            lines.append(f"    repeated at {self.location}")
        return "\n".join(lines)


_REVERSE_FK = re.compile(r'FROM "(\w+)" WHERE "\w+"\."(\w+)" = \?'
                         r'(?: ORDER BY [^()?]*)?(?: LIMIT \?)?(?: OFFSET \?)?$')


def _reverse_fk(template: str):
    """``(model, accessor)`` for a per-instance reverse foreign key query
    (``SELECT ... FROM "book" WHERE "book"."author_id" = ?``), else ``None``."""
    m = _REVERSE_FK.search(template)
    if m is None:
        return None
    from dorm.models import registry

    table, column = m.groups()
    for model in registry.get_models():
        if model._meta.db_table != table:
            continue
        for field in model._meta.concrete_fields:
            remote = getattr(field, "remote_field", None)
            if field.column == column and remote is not None and not field.primary_key:
                if getattr(remote, "is_hidden", lambda: False)():
                    return None
                return field.related_model, remote.get_accessor_name()
    return None


def _caller_location() -> str | None:
    """``file:line in function`` of the innermost frame outside dorm and asyncio."""
    frame = sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if not (module == "dorm" or module.startswith(("dorm.", "dorm_", "asyncio", "contextlib"))):
            code = frame.f_code
            return f"{code.co_filename}:{frame.f_lineno} in {code.co_name}"
        frame = frame.f_back
    return None


def _origin(template: str):
    tag = _rd.lazy_load.get()
    if tag is not None:
        return tag
    found = _reverse_fk(template)
    if found is not None:
        return (found[0], found[1], "reverse_many")
    return None


# ---- tracking lazy loads while any detector runs --------------------------------------
_tracking_lock = threading.Lock()
_tracking = 0


def _track(delta: int) -> None:
    global _tracking
    with _tracking_lock:
        _tracking += delta
        _rd.track_lazy_loads = _tracking > 0


# ---- the detector ----------------------------------------------------------------------
class NPlusOneError(AssertionError):
    """Raised at the end of an ``NPlusOneDetector`` block with ``raise_on_detect=True``
    that repeated a statement ``threshold`` times or more; ``.detections`` lists them."""

    def __init__(self, message: str, detections: list[Detection]):
        super().__init__(message)
        self.detections = detections


class NPlusOneDetector:
    """See the module docstring. Attributes after (or during) a block: ``counts``
    (``{(alias, template): n}``), ``detections`` (list of ``Detection``, most frequent
    first), ``report()`` (the text raised or logged)."""

    def __init__(self, threshold: int = 5, *, raise_on_detect: bool = True,
                 ignore=DEFAULT_IGNORE):
        self.threshold = _check_threshold(threshold)
        self.raise_on_detect = bool(raise_on_detect)
        self.ignore = _compile_ignore(ignore)
        self.counts: dict[tuple[str, str], int] = {}
        self._origins: dict[tuple[str, str], tuple] = {}
        self._skip: dict[str, bool] = {}
        self._token = None

    def __repr__(self) -> str:
        return (f"<NPlusOneDetector threshold={self.threshold} "
                f"detections={len(self.detections)}>")

    # ---- counting ----------------------------------------------------------------------
    def _ignored(self, template: str) -> bool:
        skip = self._skip.get(template)
        if skip is None:
            skip = self._skip[template] = any(p.search(template) for p in self.ignore)
        return skip

    def on_query(self, alias, sql, many, error) -> None:
        template = normalize_sql(sql)
        if self._ignored(template):
            return
        key = (alias or "default", template)
        n = self.counts.get(key, 0) + 1
        self.counts[key] = n
        if n == self.threshold:
            self._origins[key] = (_origin(template), _caller_location())

    @property
    def detections(self) -> list[Detection]:
        out = []
        for key, n in self.counts.items():
            if n < self.threshold:
                continue
            origin, location = self._origins.get(key, (None, None))
            model, relation, kind = origin if origin else (None, None, None)
            out.append(Detection(key[0], key[1], n, model, relation, kind, location))
        out.sort(key=lambda d: -d.count)
        return out

    def report(self) -> str:
        """The detections as text (empty string when there are none)."""
        found = self.detections
        if not found:
            return ""
        head = (f"N+1 queries: {len(found)} statement(s) ran {self.threshold} times or more "
                "in one block")
        return "\n".join([head, *(str(d) for d in found)])

    # ---- context manager ---------------------------------------------------------------
    def _start(self) -> None:
        if self._token is not None:
            raise RuntimeError("this NPlusOneDetector is already active; use a new one for a "
                               "nested block")
        self.counts = {}
        self._origins = {}
        _track(+1)
        self._token = _observer.push(self)

    def _stop(self, failed: bool) -> None:
        token, self._token = self._token, None
        _observer.pop(self, token)
        _track(-1)
        if failed:
            return
        text = self.report()
        if not text:
            return
        if self.raise_on_detect:
            raise NPlusOneError(text, self.detections)
        logger.warning("%s", text)

    def __enter__(self) -> NPlusOneDetector:
        self._start()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        self._stop(exc_type is not None)
        return False

    async def __aenter__(self) -> NPlusOneDetector:
        self._start()
        return self

    async def __aexit__(self, exc_type, exc, tb) -> bool:
        self._stop(exc_type is not None)
        return False


def detect(threshold: int = 5, raise_on_detect: bool = False, *,
           ignore=DEFAULT_IGNORE) -> NPlusOneDetector:
    """``with detect() as d:`` — a detector that logs (or raises) at the end; inspect
    ``d.detections`` afterwards."""
    return NPlusOneDetector(threshold, raise_on_detect=raise_on_detect, ignore=ignore)


def adetect(threshold: int = 5, raise_on_detect: bool = False, *,
            ignore=DEFAULT_IGNORE) -> NPlusOneDetector:
    """``async with adetect() as d:`` — the async spelling of ``detect``."""
    return NPlusOneDetector(threshold, raise_on_detect=raise_on_detect, ignore=ignore)


def assert_no_nplusone(threshold: int = 5, *, ignore=DEFAULT_IGNORE) -> NPlusOneDetector:
    """``with assert_no_nplusone():`` (or ``async with``): ``NPlusOneError`` at the end
    of the block if a statement ran ``threshold`` times or more."""
    return NPlusOneDetector(threshold, raise_on_detect=True, ignore=ignore)


# ---- the global detector (DEBUG_NPLUSONE) -------------------------------------------------
class _GlobalDetector:
    """Counts identical statements per thread/task in a sliding one-second window and
    logs one WARNING per burst of ``threshold`` of them. Never raises."""

    window = 1.0

    def __init__(self, threshold: int):
        self.threshold = _check_threshold(threshold)
        self.ignore = _compile_ignore(DEFAULT_IGNORE)
        self._skip: dict[str, bool] = {}
        self._lock = threading.Lock()
        self._by_task: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._by_thread: dict[int, dict] = {}

    def _state(self) -> dict:
        task = None
        if asyncio._get_running_loop() is not None:
            task = asyncio.current_task()
        with self._lock:
            if task is not None:
                state = self._by_task.get(task)
                if state is None:
                    state = self._by_task[task] = {}
                return state
            ident = threading.get_ident()
            state = self._by_thread.get(ident)
            if state is None:
                if len(self._by_thread) > 1024:  # dead threads' idents
                    alive = {t.ident for t in threading.enumerate()}
                    self._by_thread = {k: v for k, v in self._by_thread.items() if k in alive}
                state = self._by_thread[ident] = {}
            return state

    def on_query(self, alias, sql, many, error) -> None:
        template = normalize_sql(sql)
        skip = self._skip.get(template)
        if skip is None:
            skip = self._skip[template] = any(p.search(template) for p in self.ignore)
        if skip:
            return
        now = time.monotonic()
        state = self._state()
        key = (alias or "default", template)
        entry = state.get(key)
        if entry is None:
            if len(state) > 512:
                for k in [k for k, e in state.items() if now - e[0][-1] > self.window]:
                    del state[k]
            entry = state[key] = [deque(maxlen=self.threshold), 0.0]
        times = entry[0]
        times.append(now)
        if now < entry[1]:             # this burst was reported: stay quiet while it lasts
            entry[1] = now + self.window
            return
        if len(times) == self.threshold and now - times[0] <= self.window:
            entry[1] = now + self.window
            origin = _origin(template)
            model, relation, kind = origin if origin else (None, None, None)
            found = Detection(key[0], template, self.threshold, model, relation, kind,
                              _caller_location())
            logger.warning("N+1 queries (DEBUG_NPLUSONE): %s", found)


_global: _GlobalDetector | None = None


def install_global_detector(threshold: int = 5) -> None:
    """Log a WARNING for every burst of ``threshold`` identical statements, in any
    thread or task (what ``DEBUG_NPLUSONE`` does). Replaces an installed one."""
    global _global
    detector = _GlobalDetector(threshold)
    uninstall_global_detector()
    _global = detector
    _track(+1)
    _observer.add_global(detector)


def uninstall_global_detector() -> bool:
    """Remove the global detector; returns whether one was installed."""
    global _global
    detector, _global = _global, None
    if detector is None:
        return False
    _observer.remove_global(detector)
    _track(-1)
    return True


def sync_global_detector() -> None:
    """Install or remove the global detector to match ``settings.DEBUG_NPLUSONE``
    (``True`` → threshold 5, an int ``>= 2`` → that threshold, falsy → off). Called by
    ``dorm.conf`` when the setting changes."""
    from dorm.conf import settings

    value: Any = settings.explicit_value("DEBUG_NPLUSONE", False)
    if not value:
        uninstall_global_detector()
        return
    threshold = 5 if value is True else value
    try:
        threshold = _check_threshold(threshold)
    except ValueError:
        from dorm.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(
            f"DEBUG_NPLUSONE must be True, False or an integer threshold >= 2, got {value!r}"
        ) from None
    if _global is None or _global.threshold != threshold:
        install_global_detector(threshold)
