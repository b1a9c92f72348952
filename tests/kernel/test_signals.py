"""dorm.signals: connect/disconnect, weak references, exceptions, async receivers."""
from __future__ import annotations

import asyncio
import gc
import logging
import threading

import pytest
from dorm import signals
from dorm.signals import Signal, receiver


class Sender:
    pass


class OtherSender:
    pass


@pytest.fixture
def sig():
    return Signal(name="test_signal")


# -- connect / send ------------------------------------------------------------------


def test_send_calls_receivers_with_sender_and_kwargs(sig):
    calls = []

    def r(sender, **kwargs):
        calls.append((sender, kwargs))
        return "ok"

    sig.connect(r)
    result = sig.send(Sender, instance=1, created=True)
    assert calls == [(Sender, {"instance": 1, "created": True})]
    assert result == [(r, "ok")]


def test_send_passes_sender_as_keyword(sig):
    seen = {}

    def r(**kwargs):
        seen.update(kwargs)

    sig.connect(r)
    sig.send(Sender, x=1)
    assert seen == {"sender": Sender, "x": 1}


def test_send_without_receivers_returns_empty_list(sig):
    assert sig.send(Sender) == []


def test_receivers_called_in_connect_order(sig):
    order = []

    def a(**kw):
        order.append("a")

    def b(**kw):
        order.append("b")

    def c(**kw):
        order.append("c")

    for fn in (b, a, c):
        sig.connect(fn)
    sig.send(None)
    assert order == ["b", "a", "c"]


def test_sender_filter(sig):
    calls = []

    def only_sender(sender, **kw):
        calls.append(("only", sender))

    def any_sender(sender, **kw):
        calls.append(("any", sender))

    sig.connect(only_sender, sender=Sender)
    sig.connect(any_sender)
    sig.send(OtherSender)
    sig.send(Sender)
    assert calls == [("any", OtherSender), ("only", Sender), ("any", Sender)]


def test_string_sender_matches_by_value(sig):
    calls = []

    def r(sender, **kw):
        calls.append(sender)

    sig.connect(r, sender="sqlite")
    vendor = "".join(["sq", "lite"])  # noqa: FLY002 - a distinct str object, same value
    assert vendor is not "sqlite"  # noqa: F632 - the point of the test
    sig.send(vendor)
    sig.send("postgresql")
    assert calls == ["sqlite"]
    assert sig.has_receivers("sqlite")
    assert not sig.has_receivers("postgresql")


def test_same_receiver_connected_twice_is_called_once(sig):
    calls = []

    def r(**kw):
        calls.append(1)

    sig.connect(r)
    sig.connect(r)
    sig.send(None)
    assert calls == [1]


def test_same_receiver_for_two_senders_is_two_connections(sig):
    calls = []

    def r(sender, **kw):
        calls.append(sender)

    sig.connect(r, sender=Sender)
    sig.connect(r, sender=OtherSender)
    sig.send(Sender)
    sig.send(OtherSender)
    assert calls == [Sender, OtherSender]
    assert sig.disconnect(r, sender=Sender)
    sig.send(Sender)
    sig.send(OtherSender)
    assert calls == [Sender, OtherSender, OtherSender]


def test_dispatch_uid_replaces_in_place(sig):
    calls = []

    def first(**kw):
        calls.append("first")

    def middle(**kw):
        calls.append("middle")

    def second(**kw):
        calls.append("second")

    sig.connect(first, dispatch_uid="uid")
    sig.connect(middle)
    sig.connect(second, dispatch_uid="uid")
    sig.send(None)
    assert calls == ["second", "middle"]
    assert sig.receivers == [second, middle]


def test_receiver_must_be_callable(sig):
    with pytest.raises(TypeError, match="callable"):
        sig.connect(42)


def test_receiver_must_accept_kwargs(sig):
    def no_kwargs(sender):
        pass

    with pytest.raises(ValueError, match=r"\*\*kwargs"):
        sig.connect(no_kwargs)


def test_callable_object_receiver(sig):
    class Handler:
        def __init__(self):
            self.calls = 0

        def __call__(self, sender, **kwargs):
            self.calls += 1
            return self.calls

    h = Handler()
    sig.connect(h)
    assert sig.send(None) == [(h, 1)]


# -- disconnect ----------------------------------------------------------------------


def test_disconnect_returns_whether_something_was_removed(sig):
    def r(**kw):
        pass

    sig.connect(r)
    assert sig.disconnect(r) is True
    assert sig.disconnect(r) is False
    assert sig.send(None) == []


def test_disconnect_by_dispatch_uid(sig):
    def r(**kw):
        return 1

    sig.connect(r, dispatch_uid="x")
    assert sig.disconnect(dispatch_uid="x") is True
    assert not sig.has_receivers()


def test_disconnect_needs_receiver_or_uid(sig):
    with pytest.raises(TypeError):
        sig.disconnect()


def test_disconnect_with_wrong_sender_keeps_connection(sig):
    def r(**kw):
        return 1

    sig.connect(r, sender=Sender)
    assert sig.disconnect(r) is False
    assert sig.disconnect(r, sender=OtherSender) is False
    assert sig.has_receivers(Sender)
    assert sig.disconnect(r, sender=Sender) is True


def test_disconnect_bound_method(sig):
    class Obj:
        def handler(self, **kw):
            return "m"

    o = Obj()
    sig.connect(o.handler)
    # A new bound-method object each access: identity is (instance, function).
    assert sig.disconnect(o.handler) is True
    assert sig.send(None) == []


# -- weak references -----------------------------------------------------------------


def test_weak_function_receiver_is_dropped_when_collected(sig):
    def make():
        def r(**kw):
            return "alive"
        return r

    fn = make()
    sig.connect(fn)
    assert sig.has_receivers()
    del fn
    gc.collect()
    assert sig.send(None) == []
    assert not sig.has_receivers()


def test_weak_bound_method_receiver_is_dropped_when_instance_collected(sig):
    class Obj:
        def handler(self, **kw):
            return "m"

    o = Obj()
    sig.connect(o.handler)  # the bound method object dies at once; WeakMethod keeps it
    assert sig.send(None)[0][1] == "m"
    del o
    gc.collect()
    assert sig.send(None) == []
    assert not sig.has_receivers()


def test_strong_receiver_survives(sig):
    def make():
        def r(**kw):
            return "alive"
        return r

    sig.connect(make(), weak=False)
    gc.collect()
    assert [res for _, res in sig.send(None)] == ["alive"]


def test_lambda_connected_weakly_dies_immediately(sig):
    sig.connect(lambda **kw: 1)
    gc.collect()
    assert sig.send(None) == []


def test_not_weakrefable_receiver_needs_weak_false(sig):
    class Slotted:
        __slots__ = ()

        def __call__(self, **kw):
            return "s"

    with pytest.raises(TypeError, match="weak=False"):
        sig.connect(Slotted())
    obj = Slotted()
    sig.connect(obj, weak=False)
    assert sig.send(None) == [(obj, "s")]


def test_bound_method_of_slotted_instance_needs_weak_false(sig):
    class Slotted:
        __slots__ = ()

        def handler(self, **kw):
            return "h"

    obj = Slotted()
    with pytest.raises(TypeError, match="weak=False"):
        sig.connect(obj.handler)
    sig.connect(obj.handler, weak=False)
    assert [res for _, res in sig.send(None)] == ["h"]


def test_dead_sender_connections_are_cleaned(sig):
    def r(**kw):
        return 1

    def make_sender():
        class Temp:
            pass
        return Temp

    temp = make_sender()
    sig.connect(r, sender=temp)
    assert sig.has_receivers(temp)
    del temp
    gc.collect()
    assert sig.receivers == []
    assert not sig.has_receivers()


# -- has_receivers -------------------------------------------------------------------


def test_has_receivers(sig):
    def r(**kw):
        pass

    assert not sig.has_receivers()
    assert not sig.has_receivers(Sender)
    sig.connect(r, sender=Sender)
    assert sig.has_receivers()
    assert sig.has_receivers(Sender)
    assert not sig.has_receivers(OtherSender)
    sig.connect(r)
    assert sig.has_receivers(OtherSender)
    sig.disconnect(r)
    assert not sig.has_receivers(OtherSender)
    sig.disconnect(r, sender=Sender)
    assert not sig.has_receivers()
    assert sig.has_listeners is not None  # Django's name


def test_replacing_does_not_double_count(sig):
    def r(**kw):
        pass

    sig.connect(r, sender=Sender)
    sig.connect(r, sender=Sender)
    assert sig.disconnect(r, sender=Sender)
    assert not sig.has_receivers(Sender)


def test_cache_invalidated_by_connect(sig):
    calls = []

    def a(**kw):
        calls.append("a")

    def b(**kw):
        calls.append("b")

    sig.connect(a)
    sig.send(Sender)  # fills the per-sender cache
    sig.connect(b, sender=Sender)
    sig.send(Sender)
    assert calls == ["a", "a", "b"]


# -- exceptions ----------------------------------------------------------------------


def test_exceptions_propagate_by_default(sig):
    calls = []

    def boom(**kw):
        raise RuntimeError("boom")

    def after(**kw):
        calls.append("after")

    sig.connect(boom)
    sig.connect(after)
    with pytest.raises(RuntimeError, match="boom"):
        sig.send(None)
    assert calls == []  # dispatch stopped at the first error


def test_builtin_signals_propagate():
    for s in (signals.pre_save, signals.post_save, signals.pre_delete, signals.post_delete,
              signals.pre_query, signals.post_query, signals.m2m_changed,
              signals.class_prepared):
        assert s.raise_exceptions is True


def test_raise_exceptions_false_logs_and_continues(caplog):
    sig = Signal(raise_exceptions=False, name="lenient")
    err = ValueError("bad")

    def boom(**kw):
        raise err

    def after(**kw):
        return "after"

    sig.connect(boom)
    sig.connect(after)
    with caplog.at_level(logging.ERROR, logger="dorm.signals"):
        result = sig.send(None)
    assert result == [(boom, err), (after, "after")]
    assert "lenient" in caplog.text and "bad" in caplog.text
    assert caplog.records[0].exc_info is not None


def test_send_robust_never_raises(sig, caplog):
    def boom(**kw):
        raise KeyError("k")

    sig.connect(boom)
    with caplog.at_level(logging.ERROR, logger="dorm.signals"):
        (fn, res), = sig.send_robust(None)
    assert fn is boom and isinstance(res, KeyError)


def test_base_exceptions_are_not_swallowed():
    sig = Signal(raise_exceptions=False)

    def interrupt(**kw):
        raise KeyboardInterrupt

    sig.connect(interrupt)
    with pytest.raises(KeyboardInterrupt):
        sig.send(None)


# -- async receivers -----------------------------------------------------------------


def test_sync_send_runs_async_receiver_without_running_loop(sig):
    calls = []

    async def ar(sender, **kw):
        await asyncio.sleep(0)
        calls.append(kw["x"])
        return "async-result"

    sig.connect(ar)
    assert sig.send(Sender, x=5) == [(ar, "async-result")]
    assert calls == [5]


def test_sync_send_async_receiver_leaves_thread_loop_setting_alone(sig):
    async def ar(**kw):
        return asyncio.get_running_loop()

    sig.connect(ar)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        (_, used_loop), = sig.send(None)
        assert used_loop is not loop and used_loop.is_closed()
        assert asyncio.get_event_loop_policy().get_event_loop() is loop
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def test_sync_send_async_receiver_exception_propagates(sig):
    async def ar(**kw):
        raise LookupError("async boom")

    sig.connect(ar)
    with pytest.raises(LookupError, match="async boom"):
        sig.send(None)


async def test_sync_send_inside_running_loop_skips_async_with_one_warning(sig, caplog):
    calls = []

    async def ar(**kw):
        calls.append("async")

    def sr(**kw):
        calls.append("sync")
        return "s"

    sig.connect(ar)
    sig.connect(sr)
    with caplog.at_level(logging.WARNING, logger="dorm.signals"):
        result = sig.send(None)
        sig.send(None)
    assert result == [(sr, "s")]
    assert calls == ["sync", "sync"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "asend" in warnings[0].getMessage()


async def test_asend_runs_sync_and_async_in_order(sig):
    order = []

    def s1(**kw):
        order.append("s1")
        return 1

    async def a1(**kw):
        await asyncio.sleep(0)
        order.append("a1")
        return 2

    def s2(**kw):
        order.append("s2")
        return 3

    for fn in (s1, a1, s2):
        sig.connect(fn)
    result = await sig.asend(Sender, x=1)
    assert order == ["s1", "a1", "s2"]
    assert result == [(s1, 1), (a1, 2), (s2, 3)]


async def test_asend_awaits_awaitable_from_sync_receiver(sig):
    async def inner():
        return "inner"

    def sync_returning_coro(**kw):
        return inner()

    sig.connect(sync_returning_coro)
    assert await sig.asend(None) == [(sync_returning_coro, "inner")]


async def test_asend_exceptions(sig):
    async def boom(**kw):
        raise RuntimeError("x")

    sig.connect(boom)
    with pytest.raises(RuntimeError):
        await sig.asend(None)
    (_fn, res), = await sig.asend_robust(None)
    assert isinstance(res, RuntimeError)


async def test_asend_lenient_signal():
    sig = Signal(raise_exceptions=False)

    async def boom(**kw):
        raise RuntimeError("x")

    async def ok(**kw):
        return "ok"

    sig.connect(boom)
    sig.connect(ok)
    result = await sig.asend(None)
    assert isinstance(result[0][1], RuntimeError)
    assert result[1] == (ok, "ok")


async def test_asend_respects_sender(sig):
    async def ar(sender, **kw):
        return sender

    sig.connect(ar, sender=Sender)
    assert await sig.asend(OtherSender) == []
    assert await sig.asend(Sender) == [(ar, Sender)]


# -- @receiver -----------------------------------------------------------------------


def test_receiver_decorator_single_signal(sig):
    @receiver(sig, sender=Sender)
    def handler(sender, **kw):
        return "h"

    assert sig.send(Sender) == [(handler, "h")]
    assert sig.send(OtherSender) == []


def test_receiver_decorator_list_of_signals():
    s1, s2 = Signal(), Signal()

    @receiver([s1, s2], dispatch_uid="both")
    def handler(**kw):
        return "h"

    assert s1.send(None) == [(handler, "h")]
    assert s2.send(None) == [(handler, "h")]
    assert s1.disconnect(dispatch_uid="both")


def test_builtin_signals_exist_and_are_named():
    names = ["pre_save", "post_save", "pre_delete", "post_delete", "pre_query",
             "post_query", "m2m_changed", "class_prepared"]
    for name in names:
        s = getattr(signals, name)
        assert isinstance(s, Signal)
        assert s.name == name
        assert name in repr(s)


def test_m2m_changed_kwargs_contract():
    seen = {}

    def r(sender, **kw):
        seen.update(kw)

    signals.m2m_changed.connect(r)
    try:
        signals.m2m_changed.send(Sender, action="post_add", instance=1, reverse=False,
                                 model=OtherSender, pk_set={1, 2}, using="default")
    finally:
        assert signals.m2m_changed.disconnect(r)
    assert seen == {"action": "post_add", "instance": 1, "reverse": False,
                    "model": OtherSender, "pk_set": {1, 2}, "using": "default"}


# -- threads -------------------------------------------------------------------------


def test_concurrent_connect_and_send(sig):
    errors = []
    keep = []

    def worker(n):
        try:
            for i in range(200):
                def r(**kw):
                    return n
                keep.append(r)
                sig.connect(r)
                sig.send(Sender)
                sig.disconnect(r)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert not sig.has_receivers()
