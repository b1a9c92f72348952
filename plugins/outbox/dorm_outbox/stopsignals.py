"""SIGTERM / SIGINT handling for ``OutboxRelay.run()``.

``install(on_stop, name)`` makes both signals call ``on_stop()`` (in the main thread
only: Python delivers signals there; elsewhere nothing is installed) and returns the
previous handlers. At the first signal the previous handlers are put back at once, so
a second signal behaves as it did before ``run()`` (SIGINT raises
``KeyboardInterrupt``). ``restore(previous)`` puts them back in any case.
"""
from __future__ import annotations

import logging
import signal
import threading

__all__ = ["SIGNALS", "install", "restore"]

logger = logging.getLogger("dorm.contrib.outbox")

SIGNALS = (signal.SIGTERM, signal.SIGINT)


def install(on_stop, name: str) -> dict:
    """Route SIGTERM/SIGINT to ``on_stop()``; return ``{signal: previous handler}``
    (empty outside the main thread). ``name`` identifies the relay in the log."""
    if threading.current_thread() is not threading.main_thread():
        logger.debug("outbox relay %s: not in the main thread, no signal handlers", name)
        return {}
    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}

    def on_signal(signum, _frame):
        logger.info("outbox relay %s: %s received, stopping after the current batch",
                    name, signal.Signals(signum).name)
        on_stop()
        restore(previous)

    for sig in SIGNALS:
        signal.signal(sig, on_signal)
    return previous


def restore(previous: dict) -> None:
    """Put back the handlers ``install`` returned (``None``, a handler not set from
    Python, becomes ``SIG_DFL``)."""
    for sig, handler in previous.items():
        signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
