"""``Broadcaster``: one LISTEN connection fanned out to many in-process subscribers
(``dorm.contrib.listen_notify.Broadcaster``, 4.2).

    async with Broadcaster(["orders", "refunds"], maxsize=100) as b:
        async with b.subscribe("orders") as stream:
            async for n in stream:           # Notification(channel, payload, pid)
                ...

Contract:

* ``Broadcaster(channels, *, using="default", maxsize=100, reconnect=True)``: ``channels``
  is a non-empty iterable of channel names (validated as ``listen()`` does; a bare
  ``str`` is refused with ``TypeError``); ``maxsize`` is an ``int`` >= 1. An empty
  list or ``maxsize < 1`` raises ``ValueError``.
* ``async with`` opens one listening connection of its own (a ``Listener``: not taken
  from the pool) and starts a reader task on the running event loop; leaving the block
  stops the task, sends ``UNLISTEN *``, closes the connection and ends every stream.
* ``subscribe(channel)`` returns a ``Subscription``; ``async with`` registers it and
  unregisters it on exit. A channel the broadcaster does not listen to raises
  ``KeyError`` (naming the channels it has); subscribing before start or after stop
  raises ``RuntimeError``, and so does reading a subscription that was never entered.
* Each subscription has its own queue of at most ``maxsize`` notifications. When it is
  full the **oldest** one is dropped for the new one; ``stream.dropped`` counts them and
  ``Broadcaster.dropped`` is the total over every subscription. A slow subscriber never
  slows the others or the reader.
* A stream is iterated with ``async for`` or ``await stream.get(timeout=None)``
  (``None`` on timeout). When the broadcaster stops, a stream yields what it still
  has queued and then ends (``StopAsyncIteration``; ``get`` returns ``None``). If the
  connection is lost for good (reconnection failed, or ``reconnect=False``), the
  streams end the same way and then raise that ``OperationalError``.
* Dropped connections are handled by the underlying ``Listener``: it reconnects and
  re-issues ``LISTEN`` for every channel (``Broadcaster.reconnects`` counts it);
  notifications sent while it was away are lost.
* ``received`` counts notifications read from the server, ``pid`` is the listening
  session's server process id.

Everything runs on one event loop: use a broadcaster from the loop that entered it.
"""
from __future__ import annotations

import asyncio
import collections
import contextlib

from .listen_notify import Listener, validate_channel

__all__ = ["Broadcaster", "Subscription"]


class Subscription:
    """One subscriber's bounded stream of ``Notification`` (see the module docstring)."""

    def __init__(self, broadcaster: Broadcaster, channel: str, maxsize: int):
        self.broadcaster = broadcaster
        self.channel = channel
        self.maxsize = maxsize
        #: notifications dropped because this subscriber's queue was full
        self.dropped = 0
        self._queue: collections.deque = collections.deque()
        self._ready = asyncio.Event()
        self._closed = False
        self._entered = False
        self._error: BaseException | None = None

    # ---- fed by the broadcaster ----------------------------------------------------------------
    def _push(self, notification) -> None:
        if self._closed:
            return
        if len(self._queue) >= self.maxsize:
            self._queue.popleft()
            self.dropped += 1
            self.broadcaster._dropped_total += 1
        self._queue.append(notification)
        self._ready.set()

    def _close(self, error: BaseException | None = None) -> None:
        if self._error is None:
            self._error = error
        self._closed = True
        self._ready.set()

    # ---- consumer side ---------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        """True once the stream will yield nothing beyond what is queued."""
        return self._closed

    def qsize(self) -> int:
        """Notifications waiting in this subscriber's queue."""
        return len(self._queue)

    async def get(self, timeout: float | None = None):
        """The next notification; ``None`` after ``timeout`` seconds, or when the
        stream has ended (broadcaster stopped and queue drained)."""
        try:
            return await asyncio.wait_for(self.__anext__(), timeout) if timeout is not None \
                else await self.__anext__()
        except (StopAsyncIteration, asyncio.TimeoutError):
            return None

    def __aiter__(self):
        return self

    async def __anext__(self):
        if not self._entered:
            raise RuntimeError("enter the subscription first: "
                               f"'async with broadcaster.subscribe({self.channel!r}) as stream'")
        while True:
            if self._queue:
                return self._queue.popleft()
            if self._closed:
                if self._error is not None:
                    error, self._error = self._error, None
                    raise error
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()

    async def __aenter__(self):
        if self._entered:
            raise RuntimeError("a subscription is entered once; call subscribe() again")
        self.broadcaster._attach(self)
        self._entered = True
        return self

    async def __aexit__(self, *exc):
        self.broadcaster._detach(self)
        self._close()
        return False

    def __repr__(self) -> str:
        return (f"<Subscription {self.channel!r} queued={len(self._queue)} "
                f"dropped={self.dropped}{' closed' if self._closed else ''}>")


class Broadcaster:
    """One ``LISTEN`` connection shared by many subscribers (see the module docstring)."""

    def __init__(self, channels, *, using=None, maxsize: int = 100, reconnect: bool = True):
        if isinstance(channels, (str, bytes)):
            raise TypeError("Broadcaster(channels): pass a list of channel names, e.g. "
                            f"Broadcaster([{channels!r}])")
        channels = tuple(dict.fromkeys(validate_channel(c) for c in channels))
        if not channels:
            raise ValueError("Broadcaster needs at least one channel")
        if isinstance(maxsize, bool) or not isinstance(maxsize, int):
            raise TypeError(f"Broadcaster maxsize must be an int, got {maxsize!r}")
        if maxsize < 1:
            raise ValueError(f"Broadcaster maxsize must be >= 1, got {maxsize}")
        self.channels = channels
        self.alias = using or "default"
        self.maxsize = maxsize
        self.reconnect = reconnect
        #: notifications read from the server
        self.received = 0
        self._dropped_total = 0
        self._subscribers: dict[str, set[Subscription]] = {c: set() for c in channels}
        self._listener: Listener | None = None
        self._task: asyncio.Task | None = None
        self._state = "new"          # new -> running -> stopped
        self._error: BaseException | None = None

    # ---- information -------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._state == "running"

    @property
    def dropped(self) -> int:
        """Notifications dropped from full queues, over every subscription so far."""
        return self._dropped_total

    @property
    def reconnects(self) -> int:
        """How often the listening connection was re-established."""
        return self._listener.reconnects if self._listener is not None else 0

    @property
    def pid(self):
        """Server process id of the listening connection (None when not connected)."""
        return self._listener.pid if self._listener is not None else None

    def subscriber_count(self, channel: str | None = None) -> int:
        """Active subscriptions, for one channel or all."""
        if channel is not None:
            return len(self._subscribers[self._known(channel)])
        return sum(len(s) for s in self._subscribers.values())

    # ---- subscribing -------------------------------------------------------------------------------
    def _known(self, channel) -> str:
        if channel not in self._subscribers:
            raise KeyError(f"channel {channel!r} is not one this Broadcaster listens to; "
                           f"channels: {', '.join(repr(c) for c in self.channels)}")
        return channel

    def subscribe(self, channel: str) -> Subscription:
        """A ``Subscription`` to ``channel`` (use it with ``async with``)."""
        self._known(channel)
        if self._state != "running":
            raise RuntimeError(f"Broadcaster is {self._state}: subscribe inside "
                               "'async with Broadcaster(...)'")
        return Subscription(self, channel, self.maxsize)

    def _attach(self, sub: Subscription) -> None:
        if self._state != "running":
            raise RuntimeError(f"Broadcaster is {self._state}: cannot subscribe")
        self._subscribers[sub.channel].add(sub)

    def _detach(self, sub: Subscription) -> None:
        self._subscribers.get(sub.channel, set()).discard(sub)

    # ---- lifecycle ---------------------------------------------------------------------------------
    async def __aenter__(self):
        if self._state != "new":
            raise RuntimeError("a Broadcaster can be started once")
        listener = Listener(self.channels, using=self.alias, reconnect=self.reconnect)
        await listener.__aenter__()
        self._listener = listener
        self._state = "running"
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"dorm-broadcaster-{','.join(self.channels)[:40]}")
        return self

    async def __aexit__(self, *exc):
        await self.aclose()
        return False

    async def aclose(self) -> None:
        """Stop: end the reader, UNLISTEN, close the connection, end every stream."""
        if self._state == "stopped":
            return
        self._state = "stopped"
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._listener is not None:
            await self._listener.aclose()
        self._close_all(self._error)

    def _close_all(self, error: BaseException | None) -> None:
        for subs in self._subscribers.values():
            for sub in list(subs):
                sub._close(error)

    async def _run(self) -> None:
        listener = self._listener
        try:
            while True:
                n = await listener.aget(timeout=None)
                if n is None:
                    continue
                self.received += 1
                for sub in list(self._subscribers.get(n.channel, ())):
                    sub._push(n)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - handed to every subscriber
            self._error = exc
            self._state = "stopped"
            self._close_all(exc)

    def __repr__(self) -> str:
        return (f"<Broadcaster {list(self.channels)!r} {self._state} "
                f"subscribers={self.subscriber_count()} dropped={self.dropped}>")
