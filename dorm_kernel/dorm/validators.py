"""Validators: callables that raise :class:`dorm.exceptions.ValidationError`.

Pass them to a field (``CharField(validators=[MinLengthValidator(3)])``); they run in
``Model.full_clean()`` / ``Field.clean()`` on non-empty values. Each class-based
validator compares equal to another built with the same arguments and has
``deconstruct() -> (import_path, args, kwargs)`` so the migration writer can
serialise it. The function validators (``validate_ipv4_address`` ...) are
serialised by their import path.

Messages and error codes follow Django's, so code that checks ``error.code`` keeps
working.
"""
from __future__ import annotations

import ipaddress
import math
import os
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit, urlunsplit

from dorm.exceptions import ValidationError

__all__ = [
    "EMPTY_VALUES",
    "BaseValidator",
    "DecimalValidator",
    "EmailValidator",
    "FileExtensionValidator",
    "MaxLengthValidator",
    "MaxValueValidator",
    "MinLengthValidator",
    "MinValueValidator",
    "ProhibitNullCharactersValidator",
    "RegexValidator",
    "StepValueValidator",
    "URLValidator",
    "int_list_validator",
    "validate_comma_separated_integer_list",
    "validate_email",
    "validate_integer",
    "validate_ipv4_address",
    "validate_ipv6_address",
    "validate_ipv46_address",
    "validate_slug",
    "validate_unicode_slug",
]

#: Values that count as "empty": validators are not run on them by fields.
EMPTY_VALUES = (None, "", [], (), {})


class _LazyPattern:
    """A regex compiled on first use, so ``import dorm`` does not pay for it."""

    __slots__ = ("_compiled", "_flags", "_pattern")

    def __init__(self, pattern: str, flags: int = 0):
        self._pattern = pattern
        self._flags = flags
        self._compiled = None

    def _get(self) -> re.Pattern:
        if self._compiled is None:
            self._compiled = re.compile(self._pattern, self._flags)
        return self._compiled

    @property
    def pattern(self) -> str:
        return self._pattern

    @property
    def flags(self) -> int:
        return self._get().flags

    def search(self, string: str):
        return self._get().search(string)

    def match(self, string: str):
        return self._get().match(string)

    def fullmatch(self, string: str):
        return self._get().fullmatch(string)


def _compile(regex, flags: int = 0):
    if isinstance(regex, str):
        return _LazyPattern(regex, flags)
    if flags:
        raise TypeError("If the flags are set, regex must be a regular expression string.")
    return regex


def _punycode(domain: str) -> str:
    return domain.encode("idna").decode("ascii")


class _Deconstructible:
    """Records constructor arguments so ``deconstruct()`` can give them back."""

    def __new__(cls, *args, **kwargs):
        obj = super().__new__(cls)
        obj._constructor_args = (args, kwargs)
        return obj

    def deconstruct(self) -> tuple[str, tuple, dict]:
        """``(import path, args, kwargs)``: calling the path with them rebuilds self."""
        cls = type(self)
        module = cls.__module__
        if module == "__main__":
            raise ValueError(
                f"Cannot deconstruct {cls.__qualname__}: it is defined in __main__; "
                "move it to an importable module so migrations can refer to it"
            )
        args, kwargs = self._constructor_args
        return f"{module}.{cls.__qualname__}", tuple(args), dict(kwargs)

    def __repr__(self) -> str:
        args, kwargs = self._constructor_args
        parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
        return f"{type(self).__name__}({', '.join(parts)})"

    def __copy__(self):
        args, kwargs = self._constructor_args
        return type(self)(*args, **kwargs)

    def __reduce__(self):
        args, kwargs = self._constructor_args
        return (_rebuild, (type(self), args, kwargs))


def _rebuild(cls, args, kwargs):
    return cls(*args, **kwargs)


# -- value and length limits ---------------------------------------------------------


class BaseValidator(_Deconstructible):
    """Compare a cleaned value against ``limit_value`` (which may be a callable)."""

    message = "Ensure this value is %(limit_value)s (it is %(show_value)s)."
    code = "limit_value"

    def __init__(self, limit_value, message: str | None = None):
        self.limit_value = limit_value
        if message:
            self.message = message

    def __call__(self, value) -> None:
        cleaned = self.clean(value)
        limit_value = self.limit_value() if callable(self.limit_value) else self.limit_value
        params = {"limit_value": limit_value, "show_value": cleaned, "value": value}
        if self.compare(cleaned, limit_value):
            raise ValidationError(self.get_message(limit_value), code=self.code, params=params)

    def get_message(self, limit_value) -> str:
        return self.message

    def compare(self, a, b) -> bool:
        return a is not b

    def clean(self, x):
        return x

    def __eq__(self, other):
        if not isinstance(other, self.__class__):
            return NotImplemented
        return (
            self.limit_value == other.limit_value
            and self.message == other.message
            and self.code == other.code
        )

    def __hash__(self):
        try:
            return hash((type(self), self.limit_value))
        except TypeError:
            return hash(type(self))


class MaxValueValidator(BaseValidator):
    message = "Ensure this value is less than or equal to %(limit_value)s."
    code = "max_value"

    def compare(self, a, b) -> bool:
        return a > b


class MinValueValidator(BaseValidator):
    message = "Ensure this value is greater than or equal to %(limit_value)s."
    code = "min_value"

    def compare(self, a, b) -> bool:
        return a < b


class StepValueValidator(BaseValidator):
    """The value must be ``offset + n * limit_value`` (``offset`` defaults to 0).

    Decimals are compared exactly; floats with a 1e-9 tolerance.
    """

    message = "Ensure this value is a multiple of step size %(limit_value)s."
    offset_message = (
        "Ensure this value is a multiple of step size %(limit_value)s, starting from "
        "%(offset)s, e.g. %(offset)s, %(valid_value1)s, %(valid_value2)s, and so on."
    )
    code = "step_size"

    def __init__(self, limit_value, message: str | None = None, offset=None):
        super().__init__(limit_value, message)
        if offset is not None and not message:
            self.message = self.offset_message
        self.offset = offset

    def __call__(self, value) -> None:
        if self.offset is None:
            return super().__call__(value)
        cleaned = self.clean(value)
        limit_value = self.limit_value() if callable(self.limit_value) else self.limit_value
        if self.compare(cleaned, limit_value):
            offset = cleaned.__class__(self.offset)
            params = {
                "limit_value": limit_value,
                "offset": offset,
                "valid_value1": offset + limit_value,
                "valid_value2": offset + 2 * limit_value,
                "value": value,
            }
            raise ValidationError(self.message, code=self.code, params=params)

    def compare(self, a, b) -> bool:
        offset = 0 if self.offset is None else self.offset
        if isinstance(a, Decimal) or isinstance(b, Decimal):
            try:
                return (Decimal(a) - Decimal(offset)) % Decimal(b) != 0
            except (InvalidOperation, TypeError, ValueError):
                pass
        if isinstance(a, int) and isinstance(b, int) and isinstance(offset, int):
            return (a - offset) % b != 0
        return not math.isclose(math.remainder(a - offset, b), 0, abs_tol=1e-9)

    def __eq__(self, other):
        result = super().__eq__(other)
        if result is NotImplemented or not result:
            return result
        return self.offset == other.offset

    __hash__ = BaseValidator.__hash__


def _plural(limit_value, singular: str, plural: str) -> str:
    return singular if limit_value == 1 else plural


class MinLengthValidator(BaseValidator):
    message = None  # chosen by get_message (singular/plural) unless given
    code = "min_length"

    def get_message(self, limit_value) -> str:
        if self.message:
            return self.message
        return _plural(
            limit_value,
            "Ensure this value has at least %(limit_value)d character (it has %(show_value)d).",
            "Ensure this value has at least %(limit_value)d characters (it has %(show_value)d).",
        )

    def compare(self, a, b) -> bool:
        return a < b

    def clean(self, x):
        return len(x)


class MaxLengthValidator(BaseValidator):
    message = None
    code = "max_length"

    def get_message(self, limit_value) -> str:
        if self.message:
            return self.message
        return _plural(
            limit_value,
            "Ensure this value has at most %(limit_value)d character (it has %(show_value)d).",
            "Ensure this value has at most %(limit_value)d characters (it has %(show_value)d).",
        )

    def compare(self, a, b) -> bool:
        return a > b

    def clean(self, x):
        return len(x)


# -- regular expressions ---------------------------------------------------------------


class RegexValidator(_Deconstructible):
    """The value (as ``str``) must contain a match of ``regex`` (or must not, with
    ``inverse_match=True``). Anchor the pattern (``^...\\Z``) to match the whole value."""

    regex = ""
    message = "Enter a valid value."
    code = "invalid"
    inverse_match = False
    flags = 0

    def __init__(self, regex=None, message: str | None = None, code: str | None = None,
                 inverse_match: bool | None = None, flags: int | None = None):
        if regex is not None:
            self.regex = regex
        if message is not None:
            self.message = message
        if code is not None:
            self.code = code
        if inverse_match is not None:
            self.inverse_match = inverse_match
        if flags is not None:
            self.flags = flags
        self.regex = _compile(self.regex, self.flags)

    def __call__(self, value) -> None:
        regex_matches = self.regex.search(str(value))
        invalid_input = regex_matches if self.inverse_match else not regex_matches
        if invalid_input:
            raise ValidationError(self.message, code=self.code, params={"value": value})

    def __eq__(self, other):
        if not isinstance(other, RegexValidator):
            return NotImplemented
        return (
            self.regex.pattern == other.regex.pattern
            and self.regex.flags == other.regex.flags
            and self.message == other.message
            and self.code == other.code
            and self.inverse_match == other.inverse_match
        )

    def __hash__(self):
        return hash((self.regex.pattern, self.code))


class URLValidator(RegexValidator):
    """An absolute URL with one of ``schemes`` (default http, https, ftp, ftps)."""

    ul = "\u00a1-\uffff"  # Unicode letters range (must not be a raw string).

    ipv4_re = (
        r"(?:0|25[0-5]|2[0-4][0-9]|1[0-9]?[0-9]?|[1-9][0-9]?)"
        r"(?:\.(?:0|25[0-5]|2[0-4][0-9]|1[0-9]?[0-9]?|[1-9][0-9]?)){3}"
    )
    ipv6_re = r"\[[0-9a-f:.]+\]"  # simple; checked with ipaddress afterwards
    hostname_re = r"[a-z" + ul + r"0-9](?:[a-z" + ul + r"0-9-]{0,61}[a-z" + ul + r"0-9])?"
    domain_re = r"(?:\.(?!-)[a-z" + ul + r"0-9-]{1,63}(?<!-))*"
    tld_re = (
        r"\."
        r"(?!-)"
        r"(?:[a-z" + ul + "-]{2,63}"
        r"|xn--[a-z0-9]{1,59})"
        r"(?<!-)"
        r"\.?"
    )
    host_re = "(" + hostname_re + domain_re + tld_re + "|localhost)"

    regex = _LazyPattern(
        r"^(?:[a-z0-9.+-]*)://"  # scheme is validated separately
        r"(?:[^\s:@/]+(?::[^\s:@/]*)?@)?"  # user:pass authentication
        r"(?:" + ipv4_re + "|" + ipv6_re + "|" + host_re + ")"
        r"(?::[0-9]{1,5})?"  # port
        r"(?:[/?#][^\s]*)?"  # resource path
        r"\Z",
        re.IGNORECASE,
    )
    message = "Enter a valid URL."
    schemes: ClassVar[list[str]] = ["http", "https", "ftp", "ftps"]
    unsafe_chars = frozenset("\t\r\n")
    max_length = 2048

    def __init__(self, schemes=None, **kwargs):
        super().__init__(**kwargs)
        if schemes is not None:
            self.schemes = [s.lower() for s in schemes]

    def _fail(self, value):
        return ValidationError(self.message, code=self.code, params={"value": value})

    def __call__(self, value) -> None:
        if not isinstance(value, str) or len(value) > self.max_length:
            raise self._fail(value)
        if self.unsafe_chars.intersection(value):
            raise self._fail(value)
        scheme = value.split("://")[0].lower()
        if scheme not in self.schemes:
            raise self._fail(value)
        try:
            split = urlsplit(value)
        except ValueError:
            raise self._fail(value) from None
        try:
            super().__call__(value)
        except ValidationError as e:
            # Maybe an internationalised domain name: retry with its ASCII form.
            if not value:
                raise
            scheme_, netloc, path, query, fragment = split
            try:
                netloc = _punycode(netloc)
            except UnicodeError:
                raise e from None
            super().__call__(urlunsplit((scheme_, netloc, path, query, fragment)))
        else:
            host_match = re.search(r"^\[(.+)\](?::[0-9]{1,5})?$", split.netloc)
            if host_match:
                try:
                    validate_ipv6_address(host_match[1])
                except ValidationError:
                    raise self._fail(value) from None
        # A full host name is at most 253 characters (RFC 1034 section 3.1).
        try:
            hostname = split.hostname
        except ValueError:
            raise self._fail(value) from None
        if hostname is None or len(hostname) > 253:
            raise self._fail(value)

    def __eq__(self, other):
        result = super().__eq__(other)
        if result is NotImplemented or not result:
            return result
        return list(getattr(other, "schemes", ())) == list(self.schemes)

    __hash__ = RegexValidator.__hash__


integer_validator = RegexValidator(
    r"^-?\d+\Z", message="Enter a valid integer.", code="invalid"
)


def validate_integer(value) -> None:
    """Raise unless ``value`` (as text) is an optionally signed integer."""
    return integer_validator(value)


def int_list_validator(sep: str = ",", message: str | None = None, code: str = "invalid",
                       allow_negative: bool = False) -> RegexValidator:
    """A validator for ``sep``-separated integers (``"1,2,3"``)."""
    neg = "(-)?" if allow_negative else ""
    regexp = rf"^{neg}\d+(?:{re.escape(sep)}{neg}\d+)*\Z"
    return RegexValidator(regexp, message=message, code=code)


validate_comma_separated_integer_list = int_list_validator(
    message="Enter only digits separated by commas."
)

validate_slug = RegexValidator(
    r"^[-a-zA-Z0-9_]+\Z",
    # Translators: "letters" means latin letters: a-z and A-Z.
    "Enter a valid “slug” consisting of letters, numbers, underscores or hyphens.",
    "invalid",
)

validate_unicode_slug = RegexValidator(
    r"^[-\w]+\Z",
    "Enter a valid “slug” consisting of Unicode letters, numbers, underscores, or hyphens.",
    "invalid",
)


# -- IP addresses --------------------------------------------------------------------


def validate_ipv4_address(value) -> None:
    """Raise unless ``value`` is a dotted-quad IPv4 address string."""
    if isinstance(value, str):
        try:
            ipaddress.IPv4Address(value)
            return
        except ValueError:
            pass
    raise ValidationError("Enter a valid IPv4 address.", code="invalid", params={"value": value})


def _is_ipv6(value) -> bool:
    if not isinstance(value, str) or "%" in value:
        return False
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True


def validate_ipv6_address(value) -> None:
    """Raise unless ``value`` is an IPv6 address string (no zone index)."""
    if not _is_ipv6(value):
        raise ValidationError(
            "Enter a valid IPv6 address.", code="invalid", params={"value": value}
        )


def validate_ipv46_address(value) -> None:
    """Raise unless ``value`` is an IPv4 or an IPv6 address string."""
    try:
        validate_ipv4_address(value)
    except ValidationError:
        if not _is_ipv6(value):
            raise ValidationError(
                "Enter a valid IPv4 or IPv6 address.", code="invalid", params={"value": value}
            ) from None


# -- email ---------------------------------------------------------------------------


class EmailValidator(_Deconstructible):
    """An email address: dot-atom or quoted local part, then a domain (IDN allowed),
    an address literal (``[192.0.2.1]``) or a name in ``allowlist`` (``localhost``)."""

    message = "Enter a valid email address."
    code = "invalid"
    user_regex = _LazyPattern(
        # dot-atom
        r"(^[-!#$%&'*+/=?^_`{}|~0-9A-Z]+(\.[-!#$%&'*+/=?^_`{}|~0-9A-Z]+)*\Z"
        # quoted-string
        r'|^"([\001-\010\013\014\016-\037!#-\[\]-\177]|\\[\001-\011\013\014\016-\177])'
        r'*"\Z)',
        re.IGNORECASE,
    )
    domain_regex = _LazyPattern(
        # labels of at most 63 characters (RFC 1034)
        r"((?:[A-Z0-9](?:[A-Z0-9-]{0,61}[A-Z0-9])?\.)+)(?:[A-Z0-9-]{2,63}(?<!-))\Z",
        re.IGNORECASE,
    )
    literal_regex = _LazyPattern(r"\[([A-F0-9:.]+)\]\Z", re.IGNORECASE)
    domain_allowlist: ClassVar[list[str]] = ["localhost"]
    max_length = 320

    def __init__(self, message: str | None = None, code: str | None = None,
                 allowlist=None):
        if message is not None:
            self.message = message
        if code is not None:
            self.code = code
        if allowlist is not None:
            self.domain_allowlist = list(allowlist)

    def _fail(self, value):
        return ValidationError(self.message, code=self.code, params={"value": value})

    def __call__(self, value) -> None:
        if not isinstance(value, str) or not value or "@" not in value:
            raise self._fail(value)
        if len(value) > self.max_length:
            raise self._fail(value)
        user_part, domain_part = value.rsplit("@", 1)
        if not self.user_regex.match(user_part):
            raise self._fail(value)
        if domain_part not in self.domain_allowlist and not self.validate_domain_part(
            domain_part
        ):
            try:
                ascii_domain = _punycode(domain_part)
            except UnicodeError:
                pass
            else:
                if self.validate_domain_part(ascii_domain):
                    return
            raise self._fail(value)

    def validate_domain_part(self, domain_part: str) -> bool:
        if self.domain_regex.match(domain_part):
            return True
        literal_match = self.literal_regex.match(domain_part)
        if literal_match:
            try:
                validate_ipv46_address(literal_match[1])
                return True
            except ValidationError:
                pass
        return False

    def __eq__(self, other):
        if not isinstance(other, EmailValidator):
            return NotImplemented
        return (
            self.domain_allowlist == other.domain_allowlist
            and self.message == other.message
            and self.code == other.code
        )

    def __hash__(self):
        return hash((self.message, self.code))


validate_email = EmailValidator()


# -- numbers, text, files ------------------------------------------------------------


class DecimalValidator(_Deconstructible):
    """At most ``max_digits`` digits in total and ``decimal_places`` after the point.

    Accepts ``Decimal``, ``int``, ``float`` (by its shortest repr) and numeric strings.
    ``None`` for either limit means unlimited.
    """

    messages: ClassVar[dict] = {
        "invalid": "Enter a number.",
        "max_digits": (
            "Ensure that there are no more than %(max)s digit in total.",
            "Ensure that there are no more than %(max)s digits in total.",
        ),
        "max_decimal_places": (
            "Ensure that there are no more than %(max)s decimal place.",
            "Ensure that there are no more than %(max)s decimal places.",
        ),
        "max_whole_digits": (
            "Ensure that there are no more than %(max)s digit before the decimal point.",
            "Ensure that there are no more than %(max)s digits before the decimal point.",
        ),
    }

    def __init__(self, max_digits: int | None, decimal_places: int | None):
        self.max_digits = max_digits
        self.decimal_places = decimal_places

    def _error(self, code: str, limit: int, value):
        singular, plural = self.messages[code]
        return ValidationError(
            _plural(limit, singular, plural), code=code, params={"max": limit, "value": value}
        )

    def __call__(self, value) -> None:
        number = value
        if not isinstance(number, Decimal):
            try:
                if isinstance(number, bool):
                    raise TypeError
                if isinstance(number, float):
                    number = Decimal(repr(number))
                else:
                    number = Decimal(number)
            except (InvalidOperation, TypeError, ValueError):
                raise ValidationError(
                    self.messages["invalid"], code="invalid", params={"value": value}
                ) from None
        digit_tuple, exponent = number.as_tuple()[1:]
        if exponent in {"F", "n", "N"}:
            raise ValidationError(self.messages["invalid"], code="invalid",
                                  params={"value": value})
        if exponent >= 0:
            digits = len(digit_tuple)
            if digit_tuple != (0,):
                digits += exponent  # a positive exponent adds trailing zeros
            decimals = 0
        elif abs(exponent) > len(digit_tuple):
            # All digits are after the point, plus leading zeros.
            digits = decimals = abs(exponent)
        else:
            digits = len(digit_tuple)
            decimals = abs(exponent)
        whole_digits = digits - decimals

        if self.max_digits is not None and digits > self.max_digits:
            raise self._error("max_digits", self.max_digits, value)
        if self.decimal_places is not None and decimals > self.decimal_places:
            raise self._error("max_decimal_places", self.decimal_places, value)
        if (
            self.max_digits is not None
            and self.decimal_places is not None
            and whole_digits > (self.max_digits - self.decimal_places)
        ):
            raise self._error("max_whole_digits", self.max_digits - self.decimal_places, value)

    def __eq__(self, other):
        if not isinstance(other, self.__class__):
            return NotImplemented
        return (self.max_digits == other.max_digits
                and self.decimal_places == other.decimal_places)

    def __hash__(self):
        return hash((self.max_digits, self.decimal_places))


class ProhibitNullCharactersValidator(_Deconstructible):
    """Reject text containing NUL (``"\\x00"``), which PostgreSQL cannot store."""

    message = "Null characters are not allowed."
    code = "null_characters_not_allowed"

    def __init__(self, message: str | None = None, code: str | None = None):
        if message is not None:
            self.message = message
        if code is not None:
            self.code = code

    def __call__(self, value) -> None:
        if "\x00" in str(value):
            raise ValidationError(self.message, code=self.code, params={"value": value})

    def __eq__(self, other):
        if not isinstance(other, self.__class__):
            return NotImplemented
        return self.message == other.message and self.code == other.code

    def __hash__(self):
        return hash((self.message, self.code))


class FileExtensionValidator(_Deconstructible):
    """The file name's extension must be one of ``allowed_extensions`` (compared
    case-insensitively, without the dot). Accepts a path string, a ``PathLike`` or an
    object with a ``.name`` (an uploaded or stored file)."""

    message = (
        "File extension “%(extension)s” is not allowed. "
        "Allowed extensions are: %(allowed_extensions)s."
    )
    code = "invalid_extension"

    def __init__(self, allowed_extensions=None, message: str | None = None,
                 code: str | None = None):
        if allowed_extensions is not None:
            allowed_extensions = [ext.lower().lstrip(".") for ext in allowed_extensions]
        self.allowed_extensions = allowed_extensions
        if message is not None:
            self.message = message
        if code is not None:
            self.code = code

    def __call__(self, value) -> None:
        if isinstance(value, (str, os.PathLike)):
            name = os.fspath(value)
        else:
            name = getattr(value, "name", None) or ""
        extension = Path(str(name)).suffix[1:].lower()
        if self.allowed_extensions is not None and extension not in self.allowed_extensions:
            raise ValidationError(
                self.message,
                code=self.code,
                params={
                    "extension": extension,
                    "allowed_extensions": ", ".join(self.allowed_extensions),
                    "value": value,
                },
            )

    def __eq__(self, other):
        if not isinstance(other, self.__class__):
            return NotImplemented
        mine = None if self.allowed_extensions is None else set(self.allowed_extensions)
        theirs = None if other.allowed_extensions is None else set(other.allowed_extensions)
        return mine == theirs and self.message == other.message and self.code == other.code

    def __hash__(self):
        exts = None if self.allowed_extensions is None else frozenset(self.allowed_extensions)
        return hash((exts, self.code))
