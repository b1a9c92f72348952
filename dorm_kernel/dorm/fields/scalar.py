"""The scalar field types of the kernel (spec core.md §4)."""
from __future__ import annotations

import datetime
import decimal
import enum
import ipaddress
import json
import re
import uuid as uuid_mod

from dorm.exceptions import ValidationError

from .base import NOT_PROVIDED, Field


def _current_tz():
    from dorm.conf import settings

    name = getattr(settings, "TIME_ZONE", "UTC") or "UTC"
    if name == "UTC":
        return datetime.timezone.utc
    import zoneinfo

    return zoneinfo.ZoneInfo(name)


from dorm.db.backends.base.converters import use_tz as _use_tz  # noqa: E402 - after _current_tz


# ---- auto and integer fields -----------------------------------------------------------
class IntegerField(Field):
    empty_strings_allowed = False
    python_type = int
    identity_bind_type = int
    min_value: int | None = -2147483648
    max_value: int | None = 2147483647

    def to_python(self, value):
        if value is None or isinstance(value, int) and not isinstance(value, bool):
            return value
        try:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        except (TypeError, ValueError):
            raise ValidationError(
                {self.name: f"'{value}' value must be an integer."}, code="invalid") from None

    def get_prep_value(self, value):
        if value is None or isinstance(value, int):
            return value
        if hasattr(value, "resolve_expression"):
            return value
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ValidationError(
                f"Field '{self.name}' expected a number but got {value!r}.", code="invalid") from None

    def validate(self, value, model_instance):
        super().validate(value, model_instance)
        if value is None:
            return
        if self.min_value is not None and value < self.min_value:
            raise ValidationError(f"Ensure this value is greater than or equal to {self.min_value}.")
        if self.max_value is not None and value > self.max_value:
            raise ValidationError(f"Ensure this value is less than or equal to {self.max_value}.")


class SmallIntegerField(IntegerField):
    min_value, max_value = -32768, 32767


class BigIntegerField(IntegerField):
    min_value, max_value = -9223372036854775808, 9223372036854775807


class PositiveIntegerField(IntegerField):
    min_value = 0


class PositiveSmallIntegerField(SmallIntegerField):
    min_value = 0


class PositiveBigIntegerField(BigIntegerField):
    min_value = 0


class AutoFieldMixin:
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("primary_key", True)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def validate(self, value, model_instance):
        pass

    def _deconstruct_extra(self):
        return {}


class AutoField(AutoFieldMixin, IntegerField):
    pass


class BigAutoField(AutoFieldMixin, BigIntegerField):
    pass


class SmallAutoField(AutoFieldMixin, SmallIntegerField):
    pass


# ---- numbers ------------------------------------------------------------------------
class FloatField(Field):
    empty_strings_allowed = False
    prep_via_to_python = True
    python_type = float
    identity_bind_type = float

    def to_python(self, value):
        if value is None or isinstance(value, float):
            return value
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValidationError({self.name: f"'{value}' value must be a float."}) from None


class DecimalField(Field):
    """Exact decimal. ``max_digits`` and ``decimal_places`` are enforced when a value
    is bound (a value that does not fit raises ``ValidationError``), never rounded
    silently beyond ``decimal_places``."""

    empty_strings_allowed = False

    def __init__(self, verbose_name=None, name=None, max_digits=10, decimal_places=2, **kwargs):
        self.max_digits = max_digits
        self.decimal_places = decimal_places
        super().__init__(verbose_name, name, **kwargs)

    def _deconstruct_extra(self):
        return {"max_digits": self.max_digits, "decimal_places": self.decimal_places}

    def to_python(self, value):
        if value is None or isinstance(value, decimal.Decimal):
            return value
        try:
            if isinstance(value, float):
                return decimal.Decimal(repr(value))
            return decimal.Decimal(str(value).strip())
        except decimal.InvalidOperation:
            raise ValidationError({self.name: f"'{value}' value must be a decimal number."}) from None

    def get_prep_value(self, value):
        if value is None or hasattr(value, "resolve_expression"):
            return value
        value = self.to_python(value)
        if not value.is_finite():
            raise ValidationError(f"{self.name}: '{value}' is not a finite decimal.")
        quantum = decimal.Decimal(1).scaleb(-self.decimal_places)
        # precision for the value's own integer digits too: a value wider than max_digits
        # must reach the max_digits check below, not raise InvalidOperation here
        prec = max(self.max_digits, 28, value.adjusted() + 1 + self.decimal_places) + 2
        q = value.quantize(quantum, context=decimal.Context(prec=prec))
        if q != value:
            raise ValidationError(
                f"{self._label()}: {value} has more than {self.decimal_places} decimal places.",
                code="max_decimal_places")
        digits = len(q.as_tuple().digits) if q != 0 else 1
        int_digits = max(digits - self.decimal_places, 0) if q.adjusted() >= 0 else 0
        if int_digits > self.max_digits - self.decimal_places:
            raise ValidationError(
                f"{self._label()}: {value} has more than {self.max_digits} digits in total "
                f"(max_digits={self.max_digits}, decimal_places={self.decimal_places}).",
                code="max_digits")
        return q

    def _label(self):
        return f"{self.model.__name__}.{self.name}" if self.model else str(self.name)

    def get_db_prep_value(self, value, connection, prepared=False):
        if not prepared:
            value = self.get_prep_value(value)
        if value is None:
            return None
        return connection.ops.adapt_decimal(value, self.max_digits, self.decimal_places)

    def validate(self, value, model_instance):
        super().validate(value, model_instance)
        if value is not None:
            self.get_prep_value(value)


# ---- strings ------------------------------------------------------------------------
class CharField(Field):
    python_type = str
    identity_bind_type = str

    def __init__(self, verbose_name=None, name=None, max_length=255, **kwargs):
        super().__init__(verbose_name, name, max_length=max_length, **kwargs)

    def _deconstruct_extra(self):
        return {"max_length": self.max_length}

    def to_python(self, value):
        if value is None or isinstance(value, str):
            return value
        return str(value)

    def get_prep_value(self, value):
        if value is None or isinstance(value, str) or hasattr(value, "resolve_expression"):
            return value
        return str(value)

    def validate(self, value, model_instance):
        super().validate(value, model_instance)
        if value is not None and self.max_length is not None and len(value) > self.max_length:
            raise ValidationError(
                f"Ensure this value has at most {self.max_length} characters (it has {len(value)}).",
                code="max_length")


class TextField(Field):
    python_type = str
    identity_bind_type = str

    def to_python(self, value):
        if value is None or isinstance(value, str):
            return value
        return str(value)

    def get_prep_value(self, value):
        if value is None or isinstance(value, str) or hasattr(value, "resolve_expression"):
            return value
        return str(value)


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class EmailField(CharField):
    """Validated on assignment (spec): a bad address raises ``ValidationError``."""

    python_type = None  # always validated
    uses_class_descriptor = True

    def __init__(self, verbose_name=None, name=None, max_length=254, **kwargs):
        super().__init__(verbose_name, name, max_length=max_length, **kwargs)

    def get_internal_type(self):
        return "CharField"

    def to_python(self, value):
        if value is None or value == "":
            return value
        value = str(value).strip()
        if not _EMAIL.match(value):
            raise ValidationError({self.name: f"Enter a valid email address (got {value!r})."},
                                  code="invalid")
        return value


class URLField(CharField):
    python_type = str

    def __init__(self, verbose_name=None, name=None, max_length=200, **kwargs):
        super().__init__(verbose_name, name, max_length=max_length, **kwargs)

    def get_internal_type(self):
        return "CharField"

    def validate(self, value, model_instance):
        super().validate(value, model_instance)
        if value and not re.match(r"^[a-z][a-z0-9+.-]*://[^\s/?#]+[^\s]*$", value, re.I):
            raise ValidationError("Enter a valid URL.", code="invalid")


class SlugField(CharField):
    def __init__(self, verbose_name=None, name=None, max_length=50, db_index=True, **kwargs):
        super().__init__(verbose_name, name, max_length=max_length, db_index=db_index, **kwargs)

    def get_internal_type(self):
        return "CharField"

    def validate(self, value, model_instance):
        super().validate(value, model_instance)
        if value and not re.match(r"^[-a-zA-Z0-9_]+$", value):
            raise ValidationError(
                "Enter a valid 'slug' consisting of letters, numbers, underscores or hyphens.",
                code="invalid")


class BooleanField(Field):
    empty_strings_allowed = False
    prep_via_to_python = True
    db_adapter = "adapt_bool"
    python_type = bool

    def to_python(self, value):
        if value is None or isinstance(value, bool):
            return value
        if value in (1, 0):
            return bool(value)
        if isinstance(value, str):
            low = value.strip().lower()
            if low in ("true", "1", "yes", "t", "y", "on"):
                return True
            if low in ("false", "0", "no", "f", "n", "off"):
                return False
        raise ValidationError({self.name: f"'{value}' value must be either True or False."})

    def _empty_default(self):
        return None


class NullBooleanField(BooleanField):
    def __init__(self, *args, **kwargs):
        kwargs["null"] = True
        kwargs["blank"] = True
        super().__init__(*args, **kwargs)

    def get_internal_type(self):
        return "BooleanField"


# ---- dates and times -------------------------------------------------------------------
class DateField(Field):
    prep_via_to_python = True
    db_adapter = "adapt_date"
    empty_strings_allowed = False

    def __init__(self, verbose_name=None, name=None, auto_now=False, auto_now_add=False, **kwargs):
        self.auto_now, self.auto_now_add = auto_now, auto_now_add
        if auto_now or auto_now_add:
            kwargs["editable"] = False
            kwargs["blank"] = True
        super().__init__(verbose_name, name, **kwargs)

    def _deconstruct_extra(self):
        out = {}
        if self.auto_now:
            out["auto_now"] = True
        if self.auto_now_add:
            out["auto_now_add"] = True
        return out

    def _now(self):
        return datetime.date.today()

    def pre_save(self, instance, add):
        if self.auto_now or (self.auto_now_add and add):
            value = self._now()
            setattr(instance, self.attname, value)
            return value
        return super().pre_save(instance, add)

    def to_python(self, value):
        if value is None:
            return None
        if isinstance(value, datetime.datetime):
            return value.date()
        if isinstance(value, datetime.date):
            return value
        try:
            return datetime.date.fromisoformat(str(value)[:10])
        except ValueError:
            raise ValidationError(
                {self.name: f"'{value}' value has an invalid date format (YYYY-MM-DD)."}) from None




class DateTimeField(DateField):
    """With ``USE_TZ``: naive values are read as ``TIME_ZONE`` local time and stored as
    UTC; values read back are aware UTC datetimes."""

    db_adapter = "adapt_datetime"

    def _now(self):
        now = datetime.datetime.now(datetime.timezone.utc)
        return now if _use_tz() else now.replace(tzinfo=None)

    def to_python(self, value):
        if value is None:
            return None
        if isinstance(value, datetime.datetime):
            return value
        if isinstance(value, datetime.date):
            return datetime.datetime(value.year, value.month, value.day)
        try:
            text = str(value).strip().replace("Z", "+00:00")
            return datetime.datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError({self.name: f"'{value}' value has an invalid datetime format."}) from None

    def get_prep_value(self, value):
        if value is None or hasattr(value, "resolve_expression"):
            return value
        value = self.to_python(value)
        if _use_tz():
            if value.tzinfo is None:
                value = value.replace(tzinfo=_current_tz())
            return value.astimezone(datetime.timezone.utc)
        if value.tzinfo is not None:
            # USE_TZ=False: store local wall time of TIME_ZONE without tzinfo.
            value = value.astimezone(_current_tz()).replace(tzinfo=None)
        return value


    def get_db_converters(self, connection):
        convs = super().get_db_converters(connection)
        if _use_tz():
            def make_aware(v):
                if v is not None and v.tzinfo is None:
                    return v.replace(tzinfo=datetime.timezone.utc)
                return v
            convs.append(make_aware)
        return convs


class TimeField(Field):
    prep_via_to_python = True
    db_adapter = "adapt_time"
    empty_strings_allowed = False

    def __init__(self, verbose_name=None, name=None, auto_now=False, auto_now_add=False, **kwargs):
        self.auto_now, self.auto_now_add = auto_now, auto_now_add
        if auto_now or auto_now_add:
            kwargs["editable"] = False
        super().__init__(verbose_name, name, **kwargs)

    def pre_save(self, instance, add):
        if self.auto_now or (self.auto_now_add and add):
            value = datetime.datetime.now().time()
            setattr(instance, self.attname, value)
            return value
        return super().pre_save(instance, add)

    def to_python(self, value):
        if value is None or isinstance(value, datetime.time):
            return value
        if isinstance(value, datetime.datetime):
            return value.time()
        try:
            return datetime.time.fromisoformat(str(value))
        except ValueError:
            raise ValidationError({self.name: f"'{value}' value has an invalid time format."}) from None




_DURATION = re.compile(
    r"^(?:(?P<days>-?\d+) days?,? )?(?P<sign>-?)(?P<hours>\d+):(?P<minutes>\d\d):(?P<seconds>\d\d)"
    r"(?:\.(?P<micro>\d{1,6}))?$")


class DurationField(Field):
    """``timedelta``; ints are microseconds; parses ``HH:MM:SS[.f]`` and ``-1 day, 22:30:00``."""

    prep_via_to_python = True
    db_adapter = "adapt_duration"

    empty_strings_allowed = False

    def to_python(self, value):
        if value is None or isinstance(value, datetime.timedelta):
            return value
        if isinstance(value, int):
            return datetime.timedelta(microseconds=value)
        m = _DURATION.match(str(value).strip())
        if not m:
            raise ValidationError({self.name: f"'{value}' value has an invalid duration format."})
        d = m.groupdict()
        micro = int((d["micro"] or "0").ljust(6, "0"))
        td = datetime.timedelta(hours=int(d["hours"]), minutes=int(d["minutes"]),
                                seconds=int(d["seconds"]), microseconds=micro)
        if d["sign"] == "-":
            td = -td
        return td + datetime.timedelta(days=int(d["days"] or 0))




# ---- identifiers and blobs ---------------------------------------------------------------
def uuid7() -> uuid_mod.UUID:
    """A time-ordered UUID (RFC 9562 version 7)."""
    import os
    import time

    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= (rand >> 62 & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return uuid_mod.UUID(int=value)


class UUIDField(Field):
    prep_via_to_python = True
    db_adapter = "adapt_uuid"
    empty_strings_allowed = False

    def __init__(self, verbose_name=None, name=None, version=None, **kwargs):
        if version is not None:
            if "default" in kwargs:
                raise ValueError("UUIDField: pass either version= or default=, not both")
            if version not in (4, 7):
                raise ValueError("UUIDField(version=) must be 4 or 7")
            kwargs["default"] = uuid_mod.uuid4 if version == 4 else uuid7
        self.version = version
        super().__init__(verbose_name, name, **kwargs)

    def _deconstruct_extra(self):
        return {"version": self.version} if self.version else {}

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if self.version:
            kwargs.pop("default", None)
        return name, path, args, kwargs

    def to_python(self, value):
        if value is None or isinstance(value, uuid_mod.UUID):
            return value
        try:
            if isinstance(value, int):
                return uuid_mod.UUID(int=value)
            return uuid_mod.UUID(str(value))
        except ValueError:
            raise ValidationError({self.name: f"'{value}' is not a valid UUID."}) from None




class GenericIPAddressField(Field):
    """IPv4 or IPv6, normalised (``::ffff:1.2.3.4`` unpacked when ``unpack_ipv4``)."""

    uses_class_descriptor = True
    protocol_choices = ("both", "ipv4", "ipv6")

    def __init__(self, verbose_name=None, name=None, protocol="both", unpack_ipv4=False, **kwargs):
        protocol = protocol.lower()
        if protocol not in self.protocol_choices:
            raise ValueError(f"protocol must be one of {self.protocol_choices}")
        self.protocol, self.unpack_ipv4 = protocol, unpack_ipv4
        kwargs.setdefault("max_length", 39)
        super().__init__(verbose_name, name, **kwargs)

    def _deconstruct_extra(self):
        out = {}
        if self.protocol != "both":
            out["protocol"] = self.protocol
        if self.unpack_ipv4:
            out["unpack_ipv4"] = True
        return out

    def to_python(self, value):
        if value is None or value == "":
            return None if value is None else value
        try:
            ip = ipaddress.ip_address(str(value).strip())
        except ValueError:
            raise ValidationError({self.name: f"Enter a valid IP address (got {value!r})."}) from None
        if self.protocol == "ipv4" and ip.version != 4 or self.protocol == "ipv6" and ip.version != 6:
            raise ValidationError({self.name: f"Enter a valid {self.protocol.upper()} address."})
        if self.unpack_ipv4 and ip.version == 6 and ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        return str(ip)

    def get_db_prep_value(self, value, connection, prepared=False):
        if value is None or hasattr(value, "resolve_expression"):
            return value
        return connection.ops.adapt_ip(self.to_python(value))


class IPAddressField(GenericIPAddressField):
    def __init__(self, *args, **kwargs):
        kwargs["protocol"] = "ipv4"
        super().__init__(*args, **kwargs)

    def _deconstruct_extra(self):
        return {}


class JSONField(Field):
    empty_strings_allowed = False

    def __init__(self, verbose_name=None, name=None, encoder=None, decoder=None, **kwargs):
        self.encoder, self.decoder = encoder, decoder
        super().__init__(verbose_name, name, **kwargs)

    def _deconstruct_extra(self):
        out = {}
        if self.encoder is not None:
            out["encoder"] = self.encoder
        if self.decoder is not None:
            out["decoder"] = self.decoder
        return out

    def get_db_prep_value(self, value, connection, prepared=False):
        if value is None or hasattr(value, "resolve_expression"):
            return value
        if self.encoder is not None:
            value = json.loads(json.dumps(value, cls=self.encoder))
        return connection.ops.adapt_json(value)

    def from_db_value(self, value, connection):
        if value is None or not isinstance(value, (str, bytes)):
            return value
        try:
            return json.loads(value, cls=self.decoder)
        except json.JSONDecodeError:
            return value

    def _empty_default(self):
        return None

    def validate(self, value, model_instance):
        super().validate(value, model_instance)
        try:
            json.dumps(value, cls=self.encoder)
        except TypeError as e:
            raise ValidationError(f"Value must be valid JSON: {e}") from None


class BinaryField(Field):
    empty_strings_allowed = False
    db_adapter = "adapt_binary"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def to_python(self, value):
        if isinstance(value, memoryview):
            return bytes(value)
        if isinstance(value, str):
            return value.encode()
        return value

    def from_db_value(self, value, connection):
        if isinstance(value, memoryview):
            return bytes(value)
        return value

    def _empty_default(self):
        return b""


# ---- enums ---------------------------------------------------------------------------
class EnumField(Field):
    """Stores an ``enum.Enum``'s values; reads return members (unknown values raw).

    Column: ``VARCHAR(max(longest value, 50))`` for string values, ``INTEGER`` for
    integers. ``native=True`` (PostgreSQL ``CREATE TYPE ... AS ENUM``) is provided by the
    PostgreSQL plugin; other backends keep the VARCHAR column.
    """

    def __init__(self, enum_cls=None, verbose_name=None, name=None, *, max_length=None,
                 native=False, type_name=None, values=None, **kwargs):
        if enum_cls is None or not (isinstance(enum_cls, type) and issubclass(enum_cls, enum.Enum)):
            raise TypeError("EnumField(enum_cls): enum_cls must be an enum.Enum subclass")
        self.enum_cls = enum_cls
        values = [m.value for m in enum_cls]
        self._int_values = all(isinstance(v, int) and not isinstance(v, bool) for v in values)
        if native and self._int_values:
            raise ValidationError("EnumField(native=True) needs an enum with string values")
        if not self._int_values and max_length is None:
            max_length = max(50, *(len(str(v)) for v in values))
        self.native = native
        self.type_name = type_name or f"{enum_cls.__name__.lower()}_enum"
        self._type_name_arg = type_name
        #: the database's list of values (native enums): ``values=`` as recorded in a
        #: migration file, else the enum's members now. Migrations compare it, so a new
        #: member is detected (``AddPGEnumValue`` / a new CHECK elsewhere).
        self.enum_values = [str(v) for v in values] if values is not None else \
            [str(m.value) for m in enum_cls] if native else None
        kwargs.setdefault("choices", [(m.value, m.name) for m in enum_cls])
        super().__init__(verbose_name, name, max_length=max_length, **kwargs)

    def get_internal_type(self):
        return "IntegerField" if self._int_values else "CharField"

    def _deconstruct_extra(self):
        out = {}
        if self.native:
            out["native"] = True
        if self._type_name_arg:
            out["type_name"] = self._type_name_arg
        if self.native:
            out["values"] = list(self.enum_values)
        return out

    # ---- native enum (PostgreSQL ``CREATE TYPE ... AS ENUM``) ------------------------------
    def db_type(self, connection):
        if self.native and getattr(connection, "vendor", None) == "postgresql":
            return connection.ops.quote_name(self.type_name)
        return super().db_type(connection)

    def cast_db_type(self, connection):
        return self.db_type(connection)

    def db_check(self, connection):
        """``native=True`` elsewhere than PostgreSQL: VARCHAR + ``CHECK (col IN (...))``."""
        if self.native and getattr(connection, "vendor", None) != "postgresql":
            values = ", ".join("'" + v.replace("'", "''") + "'" for v in self.enum_values)
            return f"{connection.ops.quote_name(self.column)} IN ({values})"
        return super().db_check(connection)

    @classmethod
    def autodetect_operations(cls, old_fields, new_fields):
        """Autodetector hook: ``[(app_label, "before"|"after", operation)]`` keeping the
        PostgreSQL enum types of native fields in step (``CreatePGEnum`` for a new type,
        ``AddPGEnumValue`` for a new member, ``DropPGEnum`` for a type no field uses).
        ``old_fields`` / ``new_fields``: ``(app_label, model, name, field)`` of both states.
        Nothing when no plugin provides the operations."""
        from dorm.plugins import get_registry

        ops = get_registry().operations
        if not all(n in ops for n in ("CreatePGEnum", "AddPGEnumValue", "DropPGEnum")):
            return []

        def types(fields):
            out = {}
            for app, _model, _name, f in fields:
                if getattr(f, "native", False) and f.enum_values is not None:
                    out.setdefault(f.type_name, (app, list(f.enum_values)))
            return out

        old, new = types(old_fields), types(new_fields)
        result = []
        for name, (app, values) in sorted(new.items()):
            if name not in old:
                result.append((app, "before", ops["CreatePGEnum"](name, values)))
                continue
            known = list(old[name][1])
            for i, value in enumerate(values):
                if value in known:
                    continue
                prev = values[i - 1] if i else None
                if prev is not None and prev in known:
                    op = ops["AddPGEnumValue"](name, value, after=prev)
                else:
                    nxt = next((v for v in values[i + 1:] if v in known), None)
                    op = ops["AddPGEnumValue"](name, value, before=nxt) if nxt else \
                        ops["AddPGEnumValue"](name, value)
                result.append((app, "before", op))
                if prev is not None and prev in known:
                    known.insert(known.index(prev) + 1, value)
                elif op.before is not None:
                    known.insert(known.index(op.before), value)
                else:
                    known.append(value)
        for name, (app, values) in sorted(old.items()):
            if name not in new:
                result.append((app, "after", ops["DropPGEnum"](name, reverse_values=values)))
        return result

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("choices", None)
        if not self._int_values and self.max_length == max(50, *(len(str(m.value)) for m in self.enum_cls)):
            kwargs.pop("max_length", None)
        return name, path, [self.enum_cls], kwargs

    def to_python(self, value):
        if value is None or isinstance(value, self.enum_cls):
            return value
        try:
            return self.enum_cls(value)
        except ValueError:
            try:
                return self.enum_cls[value]
            except (KeyError, TypeError):
                valid = ", ".join(repr(m.value) for m in self.enum_cls)
                raise ValidationError(
                    {self.name: f"{value!r} is not a valid {self.enum_cls.__name__} (choices: {valid})"}
                ) from None

    def get_prep_value(self, value):
        if value is None or hasattr(value, "resolve_expression"):
            return value
        return self.to_python(value).value

    def from_db_value(self, value, connection):
        if value is None:
            return None
        try:
            return self.enum_cls(value)
        except ValueError:
            return value

    def validate(self, value, model_instance):
        Field.validate(self, getattr(value, "value", value), model_instance)


# Keep a tidy namespace for ``from dorm.fields.scalar import *``.
__all__ = [
    "IntegerField", "SmallIntegerField", "BigIntegerField", "PositiveIntegerField",
    "PositiveSmallIntegerField", "PositiveBigIntegerField", "AutoField", "BigAutoField",
    "SmallAutoField", "FloatField", "DecimalField", "CharField", "TextField", "EmailField",
    "URLField", "SlugField", "BooleanField", "NullBooleanField", "DateField", "DateTimeField",
    "TimeField", "DurationField", "UUIDField", "GenericIPAddressField", "IPAddressField",
    "JSONField", "BinaryField", "EnumField", "uuid7", "NOT_PROVIDED",
]
