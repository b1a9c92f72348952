"""Invalidation: every write bumps the versions of the tables it touched, in every
configured cache, and deletes the entries recorded under them.

Who calls it (only while ``CACHES`` is configured, see ``state.active``):
``post_save`` / ``post_delete`` receivers (connected here), and the kernel's bulk
writes: ``QuerySet.update``, ``delete``, ``bulk_create`` and ``bulk_update`` (and so
``upsert``, M2M ``add``/``remove``/``clear``, reverse-FK ``clear``), plus the
deletion collector for cascades and ``SET_NULL`` updates. Raw SQL writes are not
seen: call ``dorm.cache.invalidate(Model)`` after them.

When the bump happens, and what is guaranteed:

* Outside a transaction: at once, after the statement ran.
* Inside ``atomic()`` / ``aatomic()``: after the outermost ``COMMIT`` (an ``on_commit``
  callback of the block), once per block however many rows were written; if the
  block (or the savepoint that did the write) rolls back, nothing is bumped: the
  cached results are still right. (Inside ``dorm.test.rollback()``: at once, and again
  when the test block rolls back.)
* Readers inside a transaction do not use the cache at all (they may see their own
  uncommitted writes, or an old snapshot, and neither may be published to other
  processes or hide their own writes from them).
* Readers read the version *before* they run their query, and the version is part
  of the key. A reader that ran its query before a write committed therefore stores
  its (old) result under the old version, which no reader uses after the bump.
* So a stale read is possible only in the window between a writer's ``COMMIT`` and
  its bump (microseconds for the in-process cache, one round trip for Redis), and
  after the writing call returns no reader gets the pre-write result, in any
  process sharing the cache server. Bumping *before* commit instead would be wrong:
  a reader between the bump and the commit would cache the old rows under the new
  version.
* A bump the server refused is retried by this process before it reads from that
  server again (``dorm.cache.guard``).
"""
from __future__ import annotations

import logging

from dorm.exceptions import ImproperlyConfigured

from . import guard, state
from .keys import model_table

logger = logging.getLogger("dorm.cache")
_UID = "dorm.cache.invalidation"
_config_errors: set[str] = set()


def bump_now(tables) -> None:
    """Bump ``tables`` in every configured cache now (errors logged, never raised)."""
    from .registry import caches

    tables = sorted(set(tables))
    for alias in caches.aliases():
        try:
            backend = caches[alias]
        except ImproperlyConfigured as exc:
            # Nothing can have been cached through a backend that cannot be built;
            # reads raise this error, writes must not fail after their data is written.
            if alias not in _config_errors:
                _config_errors.add(alias)
                logger.error("cache %r is misconfigured, not invalidated: %s", alias, exc)
            continue
        guard.bump_sync(backend, tables)


class _PendingBump:
    """The ``on_commit`` callback of one atomic block: the tables it wrote."""

    __slots__ = ("tables",)

    def __init__(self, tables):
        self.tables = set(tables)

    def __call__(self):
        bump_now(self.tables)

    def __repr__(self):
        return f"<dorm.cache bump {sorted(self.tables)}>"


def _merged(callbacks: list, tables) -> bool:
    """Merge ``tables`` into a bump this block already queued (one per block)."""
    for cb in reversed(callbacks):
        if type(cb) is _PendingBump:
            cb.tables.update(tables)
            return True
    return False


def tables_written(tables, using=None) -> None:
    """``tables`` were written on database ``using``: bump now, or after commit.

    Inside ``dorm.test.rollback()`` nothing ever commits: the bump happens at once (the
    test sees its writes through the cache) and again when the test block rolls back
    (what was cached from the undone writes goes too)."""
    from dorm import transaction

    levels = transaction._current(using)._atomic_levels
    if not levels:
        bump_now(tables)
    elif any(level.test for level in levels):
        bump_now(tables)
        if not _merged(levels[-1].rollback_cbs, tables):
            transaction.on_rollback(_PendingBump(tables), using=using)
    elif not _merged(levels[-1].commit_cbs, tables):
        transaction.on_commit(_PendingBump(tables), using=using)


def written(model, using=None) -> None:
    """Rows of ``model`` were written on ``using`` (see ``tables_written``)."""
    tables_written((model_table(model),), using)


def models_written(models, using=None) -> None:
    """Rows of each of ``models`` were written on ``using``."""
    tables = {model_table(m) for m in models}
    if tables:
        tables_written(tables, using)


def invalidate(*models, using=None) -> None:
    """Public: mark ``models`` as changed on database ``using`` (after raw SQL writes).
    Inside a transaction the bump waits for the commit, as for ORM writes."""
    if state.active:
        tables_written([model_table(m) for m in models], using)


# ---- signal receivers ------------------------------------------------------------------------
def _on_write(sender, using=None, **kwargs):
    written(sender, using)


def set_receivers(on: bool) -> None:
    """Connect (``on``) or disconnect the ``post_save`` / ``post_delete`` receivers."""
    from dorm.signals import post_delete, post_save

    for signal in (post_save, post_delete):
        if on:
            signal.connect(_on_write, weak=False, dispatch_uid=_UID)
        else:
            signal.disconnect(dispatch_uid=_UID)
    _config_errors.clear()
