"""Streaming export: JSON, JSON Lines and CSV as chunks of bytes (spec features-4.0
§13.1; docs/contrib.md).

Public API (``source`` is a QuerySet, a Manager or an iterable of rows)::

    stream_json(source, *, chunk_size=1000, mask_pii=False, on_progress=None)
    stream_jsonl(source, *, chunk_size=1000, mask_pii=False, on_progress=None)
    stream_ndjson_pretty(source, *, chunk_size=1000, mask_pii=False, on_progress=None)
    stream_csv(source, *, chunk_size=1000, columns=None, csv_safe=True, dialect="excel",
               delimiter=None, bom=False, mask_pii=False, on_progress=None)
    stream_bytes(iterable, *, encoding="utf-8")
    astream_json / astream_jsonl / astream_csv (same arguments) -> async iterators of bytes

Contract:

* Output is produced lazily, one ``bytes`` chunk per ``chunk_size`` records (plus the
  closing bytes), so memory stays bounded by ``chunk_size`` whatever the size of the
  source. A QuerySet is read with ``iterator(chunk_size=...)`` / ``aiterator(...)``:
  a server-side cursor on PostgreSQL, ``fetchmany`` elsewhere; no result cache.
* Records: model instances → their concrete columns by attname (``author_id``;
  relations are not followed, deferred fields are left out rather than loaded);
  ``values()`` rows → the dicts; ``values_list()`` rows → dicts keyed by the selected
  names; other iterables: dicts as they are, named tuples by field name, dataclasses
  by field, tuples/lists as ``col_0, col_1, ...``, anything else as ``{"value": v}``.
* ``stream_json``: one JSON array (``[]`` for an empty source). ``stream_jsonl``: one
  compact object per line, each ``\\n``-terminated. ``stream_ndjson_pretty``: each
  object indented by 2, followed by a newline (concatenated JSON documents).
* Values: datetime/date/time → ISO 8601; timedelta → seconds (float); Decimal, UUID,
  IP addresses, paths → strings; Enum → its value; bytes → hex; sets → lists; objects
  with ``__geo_interface__`` → that mapping. Any other type raises ``TypeError`` naming
  it (nothing is silently ``str()``-ed); NaN/infinite floats raise ``ValueError``
  (they are not JSON).
* ``stream_csv``: RFC 4180 through the ``csv`` module (``dialect`` is a registered
  name or a ``csv.Dialect``; ``delimiter`` overrides the dialect's). Header: ``columns``
  or the first record's keys; missing keys → empty cells; other keys dropped. Empty
  source → just the header when ``columns`` is given, else no bytes at all. Cells:
  None → empty, True/False → ``true``/``false``, dict/list → compact JSON, other types
  as for JSON. ``bom=True`` starts the output with a UTF-8 byte order mark (Excel).
* ``csv_safe=True`` (default) neutralises spreadsheet formula injection: a text cell
  (header included) whose first non-blank character is ``= + - @``, a tab or a carriage
  return (or their full-width forms) is prefixed with ``'``. Numbers, and text that is
  just a number (``-1.5``, ``+33``), are left alone.
* ``mask_pii=True`` replaces the values of fields declared ``pii=True`` with
  ``PII_MASK`` (``None`` stays ``None``) when the source carries a model: instances,
  and ``values()``/``values_list()`` of a queryset (keys resolved through ``__``
  relations). Plain dicts without a model are not masked.
* ``on_progress(count)``: called after each chunk is encoded with the number of
  records encoded so far, and once at the end with the total (also ``0``). Its
  exceptions stop the stream.
"""
from __future__ import annotations

import csv
import dataclasses
import datetime
import decimal
import enum
import io
import ipaddress
import json
import pathlib
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

__all__ = [
    "PII_MASK",
    "astream_csv",
    "astream_json",
    "astream_jsonl",
    "stream_bytes",
    "stream_csv",
    "stream_json",
    "stream_jsonl",
    "stream_ndjson_pretty",
]

#: What ``mask_pii=True`` writes instead of a PII value.
PII_MASK = "***"
_BOM = "\ufeff"


# ---- values ----------------------------------------------------------------------------
_AS_STRING = (decimal.Decimal, uuid.UUID, ipaddress.IPv4Address, ipaddress.IPv6Address,
              ipaddress.IPv4Network, ipaddress.IPv6Network, pathlib.PurePath)


def _encode_value(o: Any) -> Any:
    """A JSON-native stand-in for ``o`` (the ``default`` of the JSON encoder)."""
    if isinstance(o, (datetime.date, datetime.time)):
        return o.isoformat()
    if isinstance(o, datetime.timedelta):
        return o.total_seconds()
    if isinstance(o, _AS_STRING):
        return str(o)
    if isinstance(o, enum.Enum):
        return o.value
    if isinstance(o, (bytes, bytearray, memoryview)):
        return bytes(o).hex()
    if isinstance(o, (set, frozenset)):
        try:
            return sorted(o)
        except TypeError:
            return list(o)
    geo = getattr(o, "__geo_interface__", None)
    if geo is not None:
        return geo
    raise TypeError(f"cannot export a value of type {type(o).__module__}.{type(o).__qualname__} "
                    f"({o!r:.80}): convert it in the query (values()/annotate) or pass dicts of "
                    "JSON-compatible values")


_COMPACT = json.JSONEncoder(default=_encode_value, ensure_ascii=False, separators=(",", ":"),
                            allow_nan=False)
_PRETTY = json.JSONEncoder(default=_encode_value, ensure_ascii=False, indent=2, allow_nan=False)

_DANGEROUS = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")
_NUMERIC = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def _neutralise(text: str) -> str:
    """``text`` prefixed with ``'`` when a spreadsheet would run it as a formula."""
    head = text.lstrip(" ")[:1]
    if head and head in _DANGEROUS and not _NUMERIC.fullmatch(text.strip()):
        return "'" + text
    return text


def _csv_cell(v: Any, safe: bool) -> Any:
    if v is None:
        return ""
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, str):
        return _neutralise(v) if safe else v
    if isinstance(v, (int, float)):
        return v
    if isinstance(v, (dict, list, tuple)):
        text = _COMPACT.encode(v)
        return _neutralise(text) if safe else text
    return _csv_cell(_encode_value(v), safe)


# ---- records -----------------------------------------------------------------------------
def _is_instance(item) -> bool:
    return hasattr(item, "_meta") and not isinstance(item, type) and hasattr(item, "_state")


def _pii_path(model, key: str) -> bool:
    """Does ``key`` (``"email"``, ``"author_id"``, ``"author__email"``) name a ``pii=True``
    field of ``model``?"""
    from dorm.exceptions import FieldDoesNotExist

    field = None
    for part in key.split("__"):
        if model is None:
            return False
        try:
            field = model._meta.get_field(part)
        except FieldDoesNotExist:
            field = next((f for f in model._meta.concrete_fields if f.attname == part), None)
            if field is None:
                return False
        model = getattr(field, "related_model", None)
    return bool(getattr(field, "pii", False))


class _Records:
    """Turns source items into dicts, masking PII when asked (see module docstring)."""

    def __init__(self, model, mask_pii: bool):
        self.model = model
        self.mask_pii = bool(mask_pii)
        self._layouts: dict = {}     # model -> [(attname, is_pii)]
        self._masks: dict = {}       # (model, keys) -> frozenset of keys to mask

    def _layout(self, model):
        layout = self._layouts.get(model)
        if layout is None:
            layout = self._layouts[model] = [(f.attname, bool(getattr(f, "pii", False)))
                                             for f in model._meta.concrete_fields]
        return layout

    def _masked_keys(self, model, keys: tuple) -> frozenset:
        found = self._masks.get((model, keys))
        if found is None:
            found = self._masks[(model, keys)] = frozenset(
                k for k in keys if isinstance(k, str) and _pii_path(model, k))
        return found

    def convert(self, item) -> dict:
        if isinstance(item, dict):
            if self.mask_pii and self.model is not None:
                masked = self._masked_keys(self.model, tuple(item))
                if masked:
                    return {k: (PII_MASK if k in masked and v is not None else v)
                            for k, v in item.items()}
            return item
        if _is_instance(item):
            d = item.__dict__
            mask = self.mask_pii
            return {name: (PII_MASK if mask and pii and d[name] is not None else d[name])
                    for name, pii in self._layout(type(item)) if name in d}
        if isinstance(item, tuple) and hasattr(item, "_fields"):
            return self.convert(dict(zip(item._fields, item)))
        if isinstance(item, (tuple, list)):
            return {f"col_{i}": v for i, v in enumerate(item)}
        if dataclasses.is_dataclass(item) and not isinstance(item, type):
            return {f.name: getattr(item, f.name) for f in dataclasses.fields(item)}
        return {"value": item}


def _queryset(source):
    """The QuerySet behind a QuerySet/Manager source (``values_list`` read as values), or
    ``None`` for other sources."""
    from dorm.models.iterables import (FlatValuesListIterable, NamedValuesListIterable,
                                       ValuesIterable, ValuesListIterable)
    from dorm.models.manager import BaseManager
    from dorm.models.queryset import QuerySet

    if isinstance(source, BaseManager):
        source = source.get_queryset()
    if not isinstance(source, QuerySet):
        return None
    if source._iterable_class in (ValuesListIterable, FlatValuesListIterable,
                                  NamedValuesListIterable):
        source = source._clone()            # same SELECT, rows as dicts keyed by the names
        source._iterable_class = ValuesIterable
    return source


def _check_plain(source, what: str) -> None:
    if isinstance(source, (str, bytes, bytearray, dict)):
        raise TypeError(f"{what}: source must be a QuerySet, a Manager or an iterable of rows, got "
                        f"{type(source).__name__} (wrap a single row in a list)")


def _sync_items(source, chunk_size: int, what: str):
    qs = _queryset(source)
    if qs is not None:
        if qs._result_cache is not None:
            return iter(qs._result_cache), qs.model
        return qs.iterator(chunk_size=chunk_size), qs.model
    _check_plain(source, what)
    if not isinstance(source, Iterable):
        if hasattr(source, "__aiter__"):
            raise TypeError(f"{what}: source is an async iterable; use the astream_* variant")
        raise TypeError(f"{what}: source must be a QuerySet, a Manager or an iterable of rows, "
                        f"got {type(source).__name__}")
    return iter(source), None


async def _aiter_sync(iterable):
    for item in iterable:
        yield item


def _async_items(source, chunk_size: int, what: str):
    qs = _queryset(source)
    if qs is not None:
        if qs._result_cache is not None:
            return _aiter_sync(qs._result_cache), qs.model
        return qs.aiterator(chunk_size=chunk_size), qs.model
    _check_plain(source, what)
    if hasattr(source, "__aiter__"):
        return source.__aiter__(), None
    if isinstance(source, Iterable):
        return _aiter_sync(source), None
    raise TypeError(f"{what}: source must be a QuerySet, a Manager, an iterable or an async "
                    f"iterable of rows, got {type(source).__name__}")


# ---- formats ---------------------------------------------------------------------------
class _JsonArray:
    def __init__(self):
        self._open = False

    def batch(self, records: list[dict]) -> str:
        body = ",".join(map(_COMPACT.encode, records))
        if self._open:
            return "," + body
        self._open = True
        return "[" + body

    def end(self) -> str:
        return "]" if self._open else "[]"


class _JsonLines:
    def __init__(self, pretty: bool = False):
        self._encode = (_PRETTY if pretty else _COMPACT).encode

    def batch(self, records: list[dict]) -> str:
        return "".join(self._encode(r) + "\n" for r in records)

    def end(self) -> str:
        return ""


class _Csv:
    def __init__(self, columns, safe: bool, dialect, delimiter, bom: bool):
        self.columns = list(columns) if columns is not None else None
        self.safe = bool(safe)
        self.bom = bool(bom)
        self._buf = io.StringIO()
        params = {} if delimiter is None else {"delimiter": delimiter}
        self._writer = csv.writer(self._buf, dialect=dialect, **params)
        self._started = False

    def _take(self) -> str:
        text = self._buf.getvalue()
        self._buf.seek(0)
        self._buf.truncate()
        return text

    def _start(self, records) -> str:
        """Write the header; the BOM (if asked) to put before the first bytes."""
        self._started = True
        if self.columns is None:
            self.columns = list(records[0])
        self._writer.writerow([_csv_cell(str(c), self.safe) for c in self.columns])
        return _BOM if self.bom else ""

    def batch(self, records: list[dict]) -> str:
        prefix = "" if self._started else self._start(records)
        cols, safe = self.columns, self.safe
        self._writer.writerows([[_csv_cell(r.get(c), safe) for c in cols] for r in records])
        return prefix + self._take()

    def end(self) -> str:
        if self._started or self.columns is None:
            return ""
        return self._start(None) + self._take()


# ---- arguments -------------------------------------------------------------------------
def _check_common(what, chunk_size, on_progress) -> None:
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"{what}: chunk_size must be a positive integer, got {chunk_size!r}")
    if on_progress is not None and not callable(on_progress):
        raise TypeError(f"{what}: on_progress must be a callable taking the record count, got "
                        f"{on_progress!r}")


def _csv_format(columns, csv_safe, dialect, delimiter, bom) -> _Csv:
    if isinstance(dialect, str):
        try:
            dialect = csv.get_dialect(dialect)
        except csv.Error:
            raise ValueError(f"stream_csv: unknown dialect {dialect!r}; registered dialects: "
                             f"{', '.join(sorted(csv.list_dialects()))} (or pass a csv.Dialect)"
                             ) from None
    elif not (isinstance(dialect, csv.Dialect)
              or (isinstance(dialect, type) and issubclass(dialect, csv.Dialect))):
        raise TypeError(f"stream_csv: dialect must be a registered name or a csv.Dialect, got "
                        f"{dialect!r}")
    if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1):
        raise ValueError(f"stream_csv: delimiter must be a single character, got {delimiter!r}")
    if columns is not None:
        if isinstance(columns, (str, bytes)) or not isinstance(columns, Iterable):
            raise TypeError(f"stream_csv: columns must be a list of names, got {columns!r}")
        columns = list(columns)
        if not columns:
            raise ValueError("stream_csv: columns must not be empty (None: take the first row's keys)")
    return _Csv(columns, csv_safe, dialect, delimiter, bom)


# ---- drivers ---------------------------------------------------------------------------
def _drive(fmt, items: Iterator, records: _Records, chunk_size: int,
           on_progress: Callable | None) -> Iterator[bytes]:
    count = reported = 0
    batch: list = []
    convert = records.convert
    try:
        for item in items:
            batch.append(convert(item))
            if len(batch) >= chunk_size:
                data = fmt.batch(batch)
                count += len(batch)
                batch = []
                if on_progress is not None:
                    on_progress(count)
                    reported = count
                yield data.encode("utf-8")
    finally:
        close = getattr(items, "close", None)
        if close is not None:  # a queryset iterator: release its cursor now
            close()
    if batch:
        data = fmt.batch(batch)
        count += len(batch)
        if data:
            yield data.encode("utf-8")
    tail = fmt.end()
    if on_progress is not None and (reported != count or count == 0):
        on_progress(count)
    if tail:
        yield tail.encode("utf-8")


async def _adrive(fmt, items: AsyncIterator, records: _Records, chunk_size: int,
                  on_progress: Callable | None) -> AsyncIterator[bytes]:
    count = reported = 0
    batch: list = []
    convert = records.convert
    try:
        async for item in items:
            batch.append(convert(item))
            if len(batch) >= chunk_size:
                data = fmt.batch(batch)
                count += len(batch)
                batch = []
                if on_progress is not None:
                    on_progress(count)
                    reported = count
                yield data.encode("utf-8")
    finally:
        close = getattr(items, "aclose", None)
        if close is not None:
            await close()
    if batch:
        data = fmt.batch(batch)
        count += len(batch)
        if data:
            yield data.encode("utf-8")
    tail = fmt.end()
    if on_progress is not None and (reported != count or count == 0):
        on_progress(count)
    if tail:
        yield tail.encode("utf-8")


def _stream(what, fmt, source, chunk_size, mask_pii, on_progress) -> Iterator[bytes]:
    _check_common(what, chunk_size, on_progress)
    items, model = _sync_items(source, chunk_size, what)
    return _drive(fmt, items, _Records(model, mask_pii), chunk_size, on_progress)


def _astream(what, fmt, source, chunk_size, mask_pii, on_progress) -> AsyncIterator[bytes]:
    _check_common(what, chunk_size, on_progress)
    items, model = _async_items(source, chunk_size, what)
    return _adrive(fmt, items, _Records(model, mask_pii), chunk_size, on_progress)


# ---- public API ------------------------------------------------------------------------
def stream_json(source, *, chunk_size: int = 1000, mask_pii: bool = False,
                on_progress: Callable[[int], Any] | None = None) -> Iterator[bytes]:
    """One JSON array of the source's records, as chunks of UTF-8 bytes."""
    return _stream("stream_json", _JsonArray(), source, chunk_size, mask_pii, on_progress)


def stream_jsonl(source, *, chunk_size: int = 1000, mask_pii: bool = False,
                 on_progress: Callable[[int], Any] | None = None) -> Iterator[bytes]:
    """JSON Lines: one compact object per ``\\n``-terminated line."""
    return _stream("stream_jsonl", _JsonLines(), source, chunk_size, mask_pii, on_progress)


def stream_ndjson_pretty(source, *, chunk_size: int = 1000, mask_pii: bool = False,
                         on_progress: Callable[[int], Any] | None = None) -> Iterator[bytes]:
    """Each record as an indented JSON object followed by a newline (for humans)."""
    return _stream("stream_ndjson_pretty", _JsonLines(pretty=True), source, chunk_size, mask_pii,
                   on_progress)


def stream_csv(source, *, chunk_size: int = 1000, columns: Iterable[str] | None = None,
               csv_safe: bool = True, dialect: str | type[csv.Dialect] = "excel",
               delimiter: str | None = None, bom: bool = False, mask_pii: bool = False,
               on_progress: Callable[[int], Any] | None = None) -> Iterator[bytes]:
    """RFC 4180 CSV with a header row (see the module docstring for cells and safety)."""
    fmt = _csv_format(columns, csv_safe, dialect, delimiter, bom)
    return _stream("stream_csv", fmt, source, chunk_size, mask_pii, on_progress)


def astream_json(source, *, chunk_size: int = 1000, mask_pii: bool = False,
                 on_progress: Callable[[int], Any] | None = None) -> AsyncIterator[bytes]:
    """Async ``stream_json``: querysets are read with ``aiterator``."""
    return _astream("astream_json", _JsonArray(), source, chunk_size, mask_pii, on_progress)


def astream_jsonl(source, *, chunk_size: int = 1000, mask_pii: bool = False,
                  on_progress: Callable[[int], Any] | None = None) -> AsyncIterator[bytes]:
    """Async ``stream_jsonl``."""
    return _astream("astream_jsonl", _JsonLines(), source, chunk_size, mask_pii, on_progress)


def astream_csv(source, *, chunk_size: int = 1000, columns: Iterable[str] | None = None,
                csv_safe: bool = True, dialect: str | type[csv.Dialect] = "excel",
                delimiter: str | None = None, bom: bool = False, mask_pii: bool = False,
                on_progress: Callable[[int], Any] | None = None) -> AsyncIterator[bytes]:
    """Async ``stream_csv``."""
    fmt = _csv_format(columns, csv_safe, dialect, delimiter, bom)
    return _astream("astream_csv", fmt, source, chunk_size, mask_pii, on_progress)


def stream_bytes(iterable: Iterable[str | bytes], *, encoding: str = "utf-8") -> Iterator[bytes]:
    """The items of ``iterable`` as bytes: ``str`` encoded with ``encoding``, bytes-like
    passed through, empty items skipped; anything else raises ``TypeError``."""
    if isinstance(iterable, (str, bytes, bytearray)):
        raise TypeError("stream_bytes expects an iterable of str/bytes pieces, not a single "
                        f"{type(iterable).__name__}")

    def gen():
        for piece in iterable:
            if isinstance(piece, str):
                data = piece.encode(encoding)
            elif isinstance(piece, (bytes, bytearray, memoryview)):
                data = bytes(piece)
            else:
                raise TypeError(f"stream_bytes: items must be str or bytes, got "
                                f"{type(piece).__name__}")
            if data:
                yield data

    return gen()
