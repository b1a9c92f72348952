"""Progress lines on stderr for long-running commands.

``Progress(label, total=None, verbosity=1)``: ``update(n)`` adds ``n`` done items and
prints ``<label>: 12000/50000 (24%, 8,100/s, ETA 5s)`` at most once per ``interval``
seconds; ``done()`` prints the final count and rate. Nothing is printed with
``verbosity`` 0. Output goes to stderr, so stdout stays clean for data (``dumpdata``).
"""
from __future__ import annotations

import time

import click


class Progress:
    def __init__(self, label: str, total: int | None = None, *, verbosity: int = 1,
                 interval: float = 1.0, unit: str = "rows"):
        self.label = label
        self.total = total
        self.enabled = verbosity >= 1
        self.interval = interval
        self.unit = unit
        self.count = 0
        self.started = time.perf_counter()
        self._last = self.started

    def _rate(self, now: float) -> float:
        elapsed = now - self.started
        return self.count / elapsed if elapsed > 0 else 0.0

    def _line(self, now: float) -> str:
        rate = self._rate(now)
        if self.total:
            pct = 100 * self.count / self.total
            eta = (self.total - self.count) / rate if rate > 0 else 0
            return (f"{self.label}: {self.count}/{self.total} {self.unit} ({pct:.0f}%, "
                    f"{rate:,.0f}/s, ETA {eta:.0f}s)")
        return f"{self.label}: {self.count} {self.unit} ({rate:,.0f}/s)"

    def update(self, n: int = 1) -> None:
        self.count += n
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self._last >= self.interval:
            self._last = now
            click.echo(self._line(now), err=True)

    def done(self) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        click.echo(f"{self.label}: {self.count} {self.unit} in {now - self.started:.2f}s", err=True)
