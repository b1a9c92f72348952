"""The relay's settings, validated once, and the small pure policies built on them:
the retry delay, the error text stored in ``last_error``, and the clock."""
from __future__ import annotations

import datetime
import math
from dataclasses import dataclass

from dorm.db.backends.base.converters import use_tz

__all__ = ["MODES", "MAX_ERROR_LENGTH", "RelayConfig", "error_text", "now"]

#: ``OutboxRelay(mode=...)`` values
MODES = ("claim", "locked")
#: ``last_error`` is cut to this many characters
MAX_ERROR_LENGTH = 1024


def _number(name: str, value, *, minimum: float, inclusive: bool, integer: bool = False):
    kind = "an integer" if integer else "a number"
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type or (not integer and not math.isfinite(value)):
        raise TypeError(f"OutboxRelay({name}=...) must be {kind}, got {value!r}")
    if value < minimum or (value == minimum and not inclusive):
        bound = f">= {minimum}" if inclusive else f"> {minimum}"
        raise ValueError(f"OutboxRelay({name}=...) must be {bound}, got {value!r}")
    return value


@dataclass(frozen=True)
class RelayConfig:
    """``OutboxRelay``'s keyword arguments after validation (see ``OutboxRelay``)."""

    batch_size: int = 100
    poll_interval_s: float = 1.0
    max_attempts: int = 5
    using: str = "default"
    mode: str = "claim"
    backoff_base_s: float = 1.0
    backoff_max_s: float = 300.0
    claim_timeout_s: float = 60.0

    def __post_init__(self):
        _number("batch_size", self.batch_size, minimum=1, inclusive=True, integer=True)
        _number("poll_interval_s", self.poll_interval_s, minimum=0, inclusive=False)
        _number("max_attempts", self.max_attempts, minimum=1, inclusive=True, integer=True)
        _number("backoff_base_s", self.backoff_base_s, minimum=0, inclusive=True)
        _number("backoff_max_s", self.backoff_max_s, minimum=0, inclusive=True)
        _number("claim_timeout_s", self.claim_timeout_s, minimum=0, inclusive=False)
        if self.backoff_max_s < self.backoff_base_s:
            raise ValueError(f"OutboxRelay(backoff_max_s={self.backoff_max_s!r}) must be >= "
                             f"backoff_base_s ({self.backoff_base_s!r})")
        if not isinstance(self.using, str) or not self.using:
            raise TypeError(f"OutboxRelay(using=...) must be a database alias (a non-empty "
                            f"string), got {self.using!r}")
        if self.mode not in MODES:
            raise ValueError(f"OutboxRelay(mode={self.mode!r}): valid modes are "
                             f"{', '.join(repr(m) for m in MODES)}")

    def retry_delay(self, attempts: int) -> datetime.timedelta:
        """How long a row waits after its ``attempts``-th failure:
        ``min(backoff_max_s, backoff_base_s * 2 ** (attempts - 1))``."""
        exponent = min(max(attempts - 1, 0), 64)     # 2**64 s is past any sane maximum
        return datetime.timedelta(seconds=min(self.backoff_max_s, self.backoff_base_s * 2 ** exponent))


def error_text(exc: BaseException) -> str:
    """``"<Type>: message"`` cut to ``MAX_ERROR_LENGTH`` characters (``last_error``)."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text[:MAX_ERROR_LENGTH]


def falsy_text(result) -> str:
    """``last_error`` for a handler that returned a falsy value instead of raising."""
    return f"handler returned {result!r}"[:MAX_ERROR_LENGTH]


def now() -> datetime.datetime:
    """The current time as dorm stores it (what ``auto_now_add`` writes): aware UTC
    with ``USE_TZ``, else naive UTC."""
    current = datetime.datetime.now(datetime.timezone.utc)
    return current if use_tz() else current.replace(tzinfo=None)
