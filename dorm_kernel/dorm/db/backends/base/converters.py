"""Value helpers shared by backend plugins: time-zone settings and converters for
values read from the database (decimals, durations). Backends pick converters in
``ops.get_db_converter``; these are the ones that do not depend on the driver."""
from __future__ import annotations

import datetime
import decimal


def use_tz() -> bool:
    """``settings.USE_TZ`` (False when settings are not configured)."""
    try:
        from dorm.conf import settings

        return bool(getattr(settings, "USE_TZ", False))
    except Exception:  # noqa: BLE001 - settings not configured
        return False


def settings_tz() -> str | None:
    """``TIME_ZONE`` when ``USE_TZ`` is on and it is not UTC, else ``None``."""
    try:
        from dorm.conf import settings

        if not getattr(settings, "USE_TZ", False):
            return None
        name = getattr(settings, "TIME_ZONE", "UTC") or "UTC"
    except Exception:  # noqa: BLE001 - settings not configured: UTC
        return None
    return None if name.upper() in ("UTC", "ETC/UTC", "Z", "GMT") else name


def to_decimal(v):
    """A database number/text as an exact ``Decimal`` (floats through ``repr``)."""
    if v is None or isinstance(v, decimal.Decimal):
        return v
    if isinstance(v, float):
        return decimal.Decimal(repr(v))
    if isinstance(v, bytes):
        v = v.decode()
    return decimal.Decimal(str(v))


def decimal_converter(decimal_places):
    """Converter to ``Decimal`` quantized to ``decimal_places`` (None: as stored)."""
    if decimal_places is None:
        return to_decimal
    exp = decimal.Decimal(1).scaleb(-int(decimal_places))
    ctx = decimal.Context(prec=60)

    def convert(v):
        if v is None:
            return None
        if v.__class__ is decimal.Decimal and v.as_tuple().exponent == exp.as_tuple().exponent:
            return v
        return to_decimal(v).quantize(exp, context=ctx)

    return convert


def duration_from_micros(v):
    """An integer number of microseconds (how durations are stored without a native
    interval type) as a ``timedelta``."""
    if v is None or isinstance(v, datetime.timedelta):
        return v
    return datetime.timedelta(microseconds=int(v))
