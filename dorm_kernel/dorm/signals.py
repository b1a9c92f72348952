"""Signals: let decoupled code hear about model saves, deletes and queries.

A :class:`Signal` keeps a list of *receivers* (callables). ``signal.send(sender, **kw)``
calls each of them as ``receiver(sender=sender, **kw)`` in the order they were
connected and returns ``[(receiver, result), ...]``.

Decisions (see ``docs/signals.md``):

* **Exceptions propagate** by default, as in Django: the first receiver that raises
  stops the dispatch and the exception reaches the caller of ``send``. A signal made
  with ``Signal(raise_exceptions=False)`` logs each receiver exception on the
  ``dorm.signals`` logger (ERROR, with traceback), keeps calling the other
  receivers and puts the exception object in the result list instead of a return
  value. ``send_robust``/``asend_robust`` do the same for one call on any signal.
* **Async receivers called from sync ``send``** are not skipped silently. When no
  event loop runs in the thread, the coroutine is run to completion on a fresh,
  private event loop. When ``send`` is called from inside a running loop (sync code
  called from async code), the receiver cannot be awaited without blocking that
  loop: dorm logs one WARNING per receiver and signal and skips it; use ``asend``
  (which ``asave``/``adelete`` use) to run it.
* ``asend`` calls sync and async receivers sequentially, in connect order, awaiting
  the async ones (and any awaitable a sync receiver returns).
* ``has_receivers(sender)`` is O(1) (counters, no list building), for hot paths:
  ``if pre_query.has_receivers(vendor): pre_query.send(vendor, ...)``.
* Receivers are held through weak references by default (``weak=True``): a
  function or bound method that is garbage-collected is disconnected on its own.
  A lambda or nested function connected weakly dies as soon as nothing else refers
  to it; connect those with ``weak=False``.
"""
from __future__ import annotations

import inspect
import logging
import threading
import weakref
from collections.abc import Callable, Hashable, Iterable
from typing import Any

__all__ = [
    "Signal",
    "class_prepared",
    "m2m_changed",
    "post_delete",
    "post_query",
    "post_save",
    "pre_delete",
    "pre_query",
    "pre_save",
    "receiver",
]

logger = logging.getLogger("dorm.signals")

#: Per-sender receiver lists are cached; past this many distinct senders the cache
#: is dropped and rebuilt on demand (bounds memory with throw-away model classes).
_CACHE_LIMIT = 1024


def _receiver_key(receiver: Callable) -> Hashable:
    """Identity of a receiver: bound methods by (instance, function), others by id."""
    self_obj = getattr(receiver, "__self__", None)
    func = getattr(receiver, "__func__", None)
    if self_obj is not None and func is not None:
        return (id(self_obj), id(func))
    return id(receiver)


def _sender_key(sender: Any) -> Hashable:
    """How receivers are matched to a sender.

    Strings (backend vendor names sent by ``pre_query``/``post_query``) match by
    value, so ``connect(fn, sender="sqlite")`` works whatever string object the
    backend sends. Everything else (model classes) matches by identity.
    """
    if sender is None:
        return None
    if isinstance(sender, str):
        return sender
    return id(sender)


def _accepts_kwargs(func: Callable) -> bool:
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):  # builtins and some C callables: cannot tell
        return True
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())


def _is_async_callable(func: Callable) -> bool:
    if inspect.iscoroutinefunction(func):
        return True
    call = getattr(func, "__call__", None)  # noqa: B004 - callable instances
    return call is not None and inspect.iscoroutinefunction(call)


class _Record:
    """One connection: a receiver (weak or strong), for one sender (or any)."""

    __slots__ = ("has_sender", "lookup_key", "ref", "sender_key", "sender_ref", "weak")

    def __init__(self, lookup_key, ref, weak, sender_key, sender_ref, has_sender):
        self.lookup_key = lookup_key
        self.ref = ref
        self.weak = weak
        self.sender_key = sender_key
        self.sender_ref = sender_ref
        self.has_sender = has_sender

    def receiver(self):
        return self.ref() if self.weak else self.ref

    def dead(self) -> bool:
        if self.weak and self.ref() is None:
            return True
        return self.has_sender and isinstance(self.sender_ref, weakref.ref) and self.sender_ref() is None


class Signal:
    """A dispatch point that receivers connect to.

    ``raise_exceptions``: ``None`` (default) or ``True`` — a receiver's exception
    propagates to the sender, as in Django. ``False`` — exceptions are logged on the
    ``dorm.signals`` logger and returned in place of the receiver's result.
    ``name`` is used in ``repr`` and log messages.
    """

    def __init__(self, *, raise_exceptions: bool | None = None, name: str | None = None):
        self.raise_exceptions = True if raise_exceptions is None else bool(raise_exceptions)
        self.name = name
        self._lock = threading.RLock()
        # lookup_key -> _Record; dict order is connect order.
        self._records: dict[Hashable, _Record] = {}
        self._n_any_sender = 0
        self._n_by_sender: dict[Hashable, int] = {}
        self._cache: dict[Hashable, tuple[_Record, ...]] = {}
        self._dead = False
        self._warned_async: set[Hashable] = set()

    def __repr__(self) -> str:
        label = self.name or hex(id(self))
        return f"<Signal {label} receivers={len(self._records)}>"

    # -- connecting ---------------------------------------------------------------

    def connect(self, receiver: Callable, sender: Any = None, weak: bool = True,
                dispatch_uid: Hashable | None = None) -> None:
        """Connect ``receiver`` to this signal.

        ``sender``: only calls with this sender reach the receiver (``None`` = all).
        ``weak``: hold the receiver through a weak reference (``WeakMethod`` for bound
        methods) so it disconnects itself when garbage-collected.
        ``dispatch_uid``: identifies the connection instead of the receiver's identity.
        Connecting again with the same receiver (or uid) and sender *replaces* the
        earlier connection, keeping its position in the call order.
        """
        if not callable(receiver):
            raise TypeError(f"Signal receiver must be callable, got {receiver!r}")
        if not _accepts_kwargs(receiver):
            raise ValueError(
                f"Signal receiver {receiver!r} must accept keyword arguments (**kwargs): "
                "signals add arguments over time."
            )
        rkey = dispatch_uid if dispatch_uid is not None else _receiver_key(receiver)
        skey = _sender_key(sender)
        lookup_key = (rkey, skey)

        if weak:
            try:
                if inspect.ismethod(receiver):
                    ref = weakref.WeakMethod(receiver, self._flag_dead)
                else:
                    ref = weakref.ref(receiver, self._flag_dead)
            except TypeError:
                raise TypeError(
                    f"Cannot hold a weak reference to {receiver!r}; "
                    "connect it with weak=False"
                ) from None
        else:
            ref = receiver

        sender_ref: Any = None
        if sender is not None and not isinstance(sender, str):
            try:
                sender_ref = weakref.ref(sender, self._flag_dead)
            except TypeError:
                sender_ref = sender  # keep it alive so its id is never reused

        record = _Record(lookup_key, ref, weak, skey, sender_ref, sender is not None)
        with self._lock:
            if self._dead:
                self._clear_dead()
            old = self._records.get(lookup_key)
            if old is not None:
                self._records[lookup_key] = record  # keeps the position
            else:
                self._records[lookup_key] = record
                self._count(record, +1)
            self._cache.clear()

    def disconnect(self, receiver: Callable | None = None, sender: Any = None,
                   dispatch_uid: Hashable | None = None) -> bool:
        """Disconnect a receiver; return whether something was disconnected.

        Pass the same ``sender`` (and ``dispatch_uid``) as given to ``connect``.
        """
        if dispatch_uid is not None:
            rkey = dispatch_uid
        elif receiver is not None:
            rkey = _receiver_key(receiver)
        else:
            raise TypeError("disconnect() needs a receiver or a dispatch_uid")
        lookup_key = (rkey, _sender_key(sender))
        with self._lock:
            if self._dead:
                self._clear_dead()
            record = self._records.pop(lookup_key, None)
            if record is None:
                return False
            self._count(record, -1)
            self._cache.clear()
            return True

    def has_receivers(self, sender: Any = None) -> bool:
        """Whether ``send(sender, ...)`` would call at least one receiver.

        Without ``sender``: whether any receiver is connected at all (for any
        sender). Constant time; meant for hot paths.
        """
        if self._dead:
            with self._lock:
                self._clear_dead()
        if sender is None:
            return bool(self._records)
        if self._n_any_sender:
            return True
        return _sender_key(sender) in self._n_by_sender

    # Django's name for the same question.
    has_listeners = has_receivers

    @property
    def receivers(self) -> list[Callable]:
        """The live receivers, in call order (a snapshot, for introspection)."""
        out = []
        for record in list(self._records.values()):
            fn = record.receiver()
            if fn is not None and not record.dead():
                out.append(fn)
        return out

    # -- bookkeeping --------------------------------------------------------------

    def _count(self, record: _Record, delta: int) -> None:
        if not record.has_sender:
            self._n_any_sender += delta
            return
        n = self._n_by_sender.get(record.sender_key, 0) + delta
        if n > 0:
            self._n_by_sender[record.sender_key] = n
        else:
            self._n_by_sender.pop(record.sender_key, None)

    def _flag_dead(self, _ref=None) -> None:
        # Runs inside the garbage collector, possibly while another method iterates
        # the records: only set a flag; the next call cleans up under the lock.
        self._dead = True

    def _clear_dead(self) -> None:
        self._dead = False
        dead = [k for k, r in list(self._records.items()) if r.dead()]
        for key in dead:
            record = self._records.pop(key, None)
            if record is not None:
                self._count(record, -1)
        if dead:
            self._cache.clear()

    def _live_receivers(self, sender: Any) -> list[tuple[Hashable, Callable]]:
        if self._dead:
            with self._lock:
                self._clear_dead()
        skey = _sender_key(sender)
        records = self._cache.get(skey)
        if records is None:
            with self._lock:
                records = tuple(
                    r for r in self._records.values()
                    if not r.has_sender or r.sender_key == skey
                )
                if len(self._cache) >= _CACHE_LIMIT:
                    self._cache.clear()
                self._cache[skey] = records
        out = []
        for r in records:
            fn = r.ref() if r.weak else r.ref
            if fn is not None:
                out.append((r.lookup_key, fn))
        return out

    # -- sending ------------------------------------------------------------------

    def send(self, sender: Any, **named) -> list[tuple[Callable, Any]]:
        """Call every receiver for ``sender``; return ``[(receiver, result), ...]``.

        Receiver exceptions propagate unless the signal was made with
        ``raise_exceptions=False``. Async receivers run on a private event loop when
        no loop is running in this thread; inside a running loop they are skipped
        with one WARNING (use :meth:`asend`).
        """
        if not self._records:
            return []
        responses = []
        for key, fn in self._live_receivers(sender):
            try:
                result = fn(sender=sender, **named)
                if inspect.iscoroutine(result):
                    result = self._run_coroutine_sync(key, fn, result)
                    if result is _SKIPPED:
                        continue
            except Exception as exc:
                if self.raise_exceptions:
                    raise
                self._log_exception(fn, exc)
                result = exc
            responses.append((fn, result))
        return responses

    def send_robust(self, sender: Any, **named) -> list[tuple[Callable, Any]]:
        """Like :meth:`send` but never raises: a receiver's exception is logged and
        returned as its result, and the other receivers still run."""
        if not self._records:
            return []
        responses = []
        for key, fn in self._live_receivers(sender):
            try:
                result = fn(sender=sender, **named)
                if inspect.iscoroutine(result):
                    result = self._run_coroutine_sync(key, fn, result)
                    if result is _SKIPPED:
                        continue
            except Exception as exc:  # noqa: BLE001 - robust: report, never raise
                self._log_exception(fn, exc)
                result = exc
            responses.append((fn, result))
        return responses

    async def asend(self, sender: Any, **named) -> list[tuple[Callable, Any]]:
        """Async twin of :meth:`send`: sync and async receivers, sequentially, in
        connect order; async receivers (and awaitables returned) are awaited."""
        if not self._records:
            return []
        responses = []
        for _key, fn in self._live_receivers(sender):
            try:
                result = fn(sender=sender, **named)
                if inspect.isawaitable(result):
                    result = await result
            except Exception as exc:
                if self.raise_exceptions:
                    raise
                self._log_exception(fn, exc)
                result = exc
            responses.append((fn, result))
        return responses

    async def asend_robust(self, sender: Any, **named) -> list[tuple[Callable, Any]]:
        """Async twin of :meth:`send_robust`."""
        if not self._records:
            return []
        responses = []
        for _key, fn in self._live_receivers(sender):
            try:
                result = fn(sender=sender, **named)
                if inspect.isawaitable(result):
                    result = await result
            except Exception as exc:  # noqa: BLE001 - robust: report, never raise
                self._log_exception(fn, exc)
                result = exc
            responses.append((fn, result))
        return responses

    # -- helpers ------------------------------------------------------------------

    def _run_coroutine_sync(self, key: Hashable, fn: Callable, coro) -> Any:
        import asyncio  # lazily: keeps ``import dorm`` cheap

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            coro.close()  # never started: no "was never awaited" warning
            if key not in self._warned_async:
                self._warned_async.add(key)
                logger.warning(
                    "Signal %s: async receiver %r was not run because %s.send() was "
                    "called from inside a running event loop; use 'await %s.asend()' "
                    "(asave/adelete do) to run async receivers. (Logged once per receiver.)",
                    self._label(), fn, self._label(), self._label(),
                )
            return _SKIPPED
        # No loop running in this thread: run the receiver to completion on a private
        # loop, without touching the thread's current-loop setting.
        loop = asyncio.new_event_loop()
        try:
            return loop.run_until_complete(coro)
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

    def _label(self) -> str:
        return self.name or "signal"

    def _log_exception(self, fn: Callable, exc: BaseException) -> None:
        logger.error(
            "Error calling %r in Signal %s", fn, self._label(),
            exc_info=(type(exc), exc, exc.__traceback__),
        )


_SKIPPED = object()


def receiver(signal: Signal | Iterable[Signal], **connect_kwargs) -> Callable:
    """Decorator connecting a function to one signal or a list of signals.

    ``connect_kwargs`` (``sender``, ``weak``, ``dispatch_uid``) go to
    :meth:`Signal.connect`. The function is returned unchanged::

        @receiver(post_save, sender=Product)
        def on_product_saved(sender, instance, created, **kwargs): ...
    """
    def decorator(func: Callable) -> Callable:
        if isinstance(signal, Signal):
            signal.connect(func, **connect_kwargs)
        else:
            for s in signal:
                s.connect(func, **connect_kwargs)
        return func

    return decorator


#: Before ``Model.save()``/``asave()`` writes. sender: the model class.
#: kwargs: ``instance``, ``raw`` (False), ``using`` (alias), ``update_fields``
#: (frozenset or None).
pre_save = Signal(name="pre_save")

#: After ``save()``/``asave()`` wrote. sender: the model class. kwargs: ``instance``,
#: ``created`` (bool), ``raw``, ``using``, ``update_fields``.
post_save = Signal(name="post_save")

#: Before an instance ``delete()``/``adelete()`` deletes (after cascade collection).
#: sender: the model class. kwargs: ``instance``, ``using``.
pre_delete = Signal(name="pre_delete")

#: After an instance was deleted. Same arguments as ``pre_delete``.
post_delete = Signal(name="post_delete")

#: Before a statement runs. sender: the backend vendor (``"sqlite"``). kwargs:
#: ``sql``, ``params``, ``alias`` (connection alias), ``many`` (executemany).
pre_query = Signal(name="pre_query")

#: After a statement ran, also when it failed. sender: the vendor. kwargs: ``sql``,
#: ``params``, ``alias``, ``many``, ``elapsed_ms`` (float), ``error`` (the exception
#: or None), ``rowcount`` (int or None).
post_query = Signal(name="post_query")

#: When a many-to-many relation changes. sender: the through model. kwargs:
#: ``action`` (``"pre_add"``, ``"post_add"``, ``"pre_remove"``, ``"post_remove"``,
#: ``"pre_clear"``, ``"post_clear"``), ``instance``, ``reverse`` (bool), ``model``
#: (class of the objects added/removed), ``pk_set`` (set of pks, None for clear),
#: ``using``.
m2m_changed = Signal(name="m2m_changed")

#: When a model class has been created and prepared. sender: the model class; no
#: other kwargs.
class_prepared = Signal(name="class_prepared")
