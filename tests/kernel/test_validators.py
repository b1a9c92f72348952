"""dorm.validators: behaviour, messages, codes, equality and deconstruct()."""
from __future__ import annotations

import copy
import importlib
import pickle
import re
from decimal import Decimal
from pathlib import Path

import pytest
from dorm import validators as v
from dorm.exceptions import ValidationError


def fails(validator, value):
    with pytest.raises(ValidationError) as info:
        validator(value)
    return info.value


def passes(validator, value):
    assert validator(value) is None


# -- min / max value -----------------------------------------------------------------


def test_min_value():
    val = v.MinValueValidator(10)
    passes(val, 10)
    passes(val, 11)
    err = fails(val, 9)
    assert err.code == "min_value"
    assert err.message == "Ensure this value is greater than or equal to 10."
    assert err.params == {"limit_value": 10, "show_value": 9, "value": 9}


def test_max_value():
    val = v.MaxValueValidator(Decimal("2.5"))
    passes(val, Decimal("2.5"))
    err = fails(val, Decimal("2.6"))
    assert err.code == "max_value"
    assert str(err) == "Ensure this value is less than or equal to 2.5."


def test_callable_limit_value():
    limit = [5]
    val = v.MaxValueValidator(lambda: limit[0])
    passes(val, 5)
    limit[0] = 4
    err = fails(val, 5)
    assert err.params["limit_value"] == 4


def test_custom_message():
    val = v.MinValueValidator(1, message="Too small: %(value)s < %(limit_value)s")
    assert fails(val, 0).message == "Too small: 0 < 1"


# -- lengths -------------------------------------------------------------------------


def test_min_length_messages_plural_and_singular():
    assert fails(v.MinLengthValidator(3), "ab").message == (
        "Ensure this value has at least 3 characters (it has 2)."
    )
    assert fails(v.MinLengthValidator(1), "").message == (
        "Ensure this value has at least 1 character (it has 0)."
    )
    assert fails(v.MinLengthValidator(3), "ab").code == "min_length"
    passes(v.MinLengthValidator(2), "ab")


def test_max_length():
    val = v.MaxLengthValidator(2)
    passes(val, "ab")
    passes(val, [1, 2])
    err = fails(val, "abc")
    assert err.code == "max_length"
    assert err.message == "Ensure this value has at most 2 characters (it has 3)."
    assert fails(v.MaxLengthValidator(1), "ab").message == (
        "Ensure this value has at most 1 character (it has 2)."
    )


# -- step ----------------------------------------------------------------------------


def test_step_value():
    val = v.StepValueValidator(3)
    passes(val, 9)
    passes(val, -3)
    err = fails(val, 10)
    assert err.code == "step_size"
    assert err.message == "Ensure this value is a multiple of step size 3."


def test_step_value_float_and_decimal():
    passes(v.StepValueValidator(0.1), 0.3)
    fails(v.StepValueValidator(0.1), 0.35)
    passes(v.StepValueValidator(Decimal("0.01")), Decimal("1.23"))
    fails(v.StepValueValidator(Decimal("0.01")), Decimal("1.234"))


def test_step_value_with_offset():
    val = v.StepValueValidator(3, offset=1)
    passes(val, 4)
    passes(val, 1)
    err = fails(val, 5)
    assert err.message == (
        "Ensure this value is a multiple of step size 3, starting from 1, "
        "e.g. 1, 4, 7, and so on."
    )
    assert v.StepValueValidator(3, offset=1) != v.StepValueValidator(3, offset=2)
    assert v.StepValueValidator(3, offset=1) == v.StepValueValidator(3, offset=1)


# -- regex ---------------------------------------------------------------------------


def test_regex_validator():
    val = v.RegexValidator(r"^[a-z]+\Z")
    passes(val, "abc")
    err = fails(val, "ab1")
    assert err.code == "invalid"
    assert err.message == "Enter a valid value."
    assert err.params == {"value": "ab1"}


def test_regex_validator_inverse_match_and_options():
    val = v.RegexValidator(r"\d", message="No digits.", code="digits", inverse_match=True)
    passes(val, "abc")
    err = fails(val, "a1")
    assert (err.message, err.code) == ("No digits.", "digits")


def test_regex_validator_flags():
    val = v.RegexValidator(r"^abc\Z", flags=re.IGNORECASE)
    passes(val, "ABC")
    with pytest.raises(TypeError):
        v.RegexValidator(re.compile("x"), flags=re.IGNORECASE)


def test_regex_validator_accepts_compiled_pattern():
    val = v.RegexValidator(re.compile(r"^x+\Z"))
    passes(val, "xx")
    fails(val, "xy")


def test_regex_validator_uses_str_of_value():
    passes(v.RegexValidator(r"^\d+\Z"), 123)


def test_slugs():
    passes(v.validate_slug, "a-slug_1")
    err = fails(v.validate_slug, "not a slug")
    assert err.code == "invalid" and "slug" in err.message
    fails(v.validate_slug, "héllo")
    passes(v.validate_unicode_slug, "héllo-wörld")
    fails(v.validate_unicode_slug, "héllo wörld")
    fails(v.validate_slug, "trailing\n")


def test_integer_validators():
    passes(v.validate_integer, "-12")
    fails(v.validate_integer, "1.5")
    passes(v.validate_comma_separated_integer_list, "1,2,3")
    fails(v.validate_comma_separated_integer_list, "1,,2")
    passes(v.int_list_validator(sep=";", allow_negative=True), "-1;2")


# -- email ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", [
    "user@example.com",
    "first.last+tag@sub.example.co.uk",
    "user@localhost",
    "user@[127.0.0.1]",
    "user@[::1]",
    '"test@test"@example.com',
    "user@exämple.com",
    "user@xn--exmple-cua.com",
])
def test_valid_emails(value):
    passes(v.validate_email, value)


@pytest.mark.parametrize("value", [
    "", "plainaddress", "@example.com", "user@", "user@example", "user@.com",
    "user@-example.com", "us er@example.com", "user@[999.1.1.1]", "user@exa_mple.com",
    "a" * 310 + "@example.com", None, 42, "user@example.com\n",
])
def test_invalid_emails(value):
    err = fails(v.validate_email, value)
    assert err.code == "invalid"
    assert err.message == "Enter a valid email address."


def test_email_allowlist():
    val = v.EmailValidator(allowlist=["intranet"])
    passes(val, "me@intranet")
    fails(val, "me@localhost")
    assert val != v.EmailValidator()
    assert val.deconstruct() == (
        "dorm.validators.EmailValidator", (), {"allowlist": ["intranet"]}
    )


# -- URL -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", [
    "http://example.com",
    "https://www.example.com/path?q=1#frag",
    "http://localhost:8000/",
    "http://127.0.0.1/",
    "http://[::1]:8080/x",
    "ftp://user:pass@ftp.example.org/file",
    "http://例え.テスト/",
    "http://example.com.",
])
def test_valid_urls(value):
    passes(v.URLValidator(), value)


@pytest.mark.parametrize("value", [
    "example.com", "http://", "http://exa mple.com", "mailto:x@example.com",
    "http://[::zz]/", "http://example.com/\nevil", "http://-bad.com", "http://256.1.1.1",
    "javascript:alert(1)", 42, "http://" + "a" * 2048 + ".com",
])
def test_invalid_urls(value):
    err = fails(v.URLValidator(), value)
    assert err.code == "invalid" and err.message == "Enter a valid URL."


def test_url_schemes():
    val = v.URLValidator(schemes=["git", "HTTPS"])
    passes(val, "git://example.com/repo")
    passes(val, "https://example.com")
    fails(val, "http://example.com")
    assert val != v.URLValidator()


# -- IP addresses --------------------------------------------------------------------


def test_ipv4():
    passes(v.validate_ipv4_address, "192.168.0.1")
    for bad in ("256.1.1.1", "1.2.3", "01.2.3.4", "::1", 3232235521, None):
        err = fails(v.validate_ipv4_address, bad)
        assert err.message == "Enter a valid IPv4 address." and err.code == "invalid"


def test_ipv6():
    passes(v.validate_ipv6_address, "::1")
    passes(v.validate_ipv6_address, "2001:db8::ff00:42:8329")
    passes(v.validate_ipv6_address, "::ffff:192.0.2.1")
    for bad in ("1.2.3.4", "12345::", "fe80::1%eth0", ":::", None):
        err = fails(v.validate_ipv6_address, bad)
        assert err.message == "Enter a valid IPv6 address."


def test_ipv46():
    passes(v.validate_ipv46_address, "10.0.0.1")
    passes(v.validate_ipv46_address, "fe80::1")
    err = fails(v.validate_ipv46_address, "nope")
    assert err.message == "Enter a valid IPv4 or IPv6 address." and err.code == "invalid"


# -- decimals ------------------------------------------------------------------------


@pytest.mark.parametrize("value", [
    Decimal("123.45"), Decimal("-999.99"), Decimal(0), Decimal("0.01"), 123, "12.5",
    1.25, Decimal("1E+2"),
])
def test_decimal_valid(value):
    passes(v.DecimalValidator(5, 2), value)


@pytest.mark.parametrize("value,code,message", [
    (Decimal(123456), "max_digits", "Ensure that there are no more than 5 digits in total."),
    (Decimal("1.234"), "max_decimal_places",
     "Ensure that there are no more than 2 decimal places."),
    (Decimal("1234.5"), "max_whole_digits",
     "Ensure that there are no more than 3 digits before the decimal point."),
    (Decimal("0.001"), "max_decimal_places",
     "Ensure that there are no more than 2 decimal places."),
    (Decimal("1E+5"), "max_digits", "Ensure that there are no more than 5 digits in total."),
    (Decimal("NaN"), "invalid", "Enter a number."),
    (Decimal("Infinity"), "invalid", "Enter a number."),
    ("abc", "invalid", "Enter a number."),
    (True, "invalid", "Enter a number."),
])
def test_decimal_invalid(value, code, message):
    err = fails(v.DecimalValidator(5, 2), value)
    assert (err.code, err.message) == (code, message)


def test_decimal_singular_messages_and_unlimited():
    err = fails(v.DecimalValidator(1, None), Decimal(12))
    assert err.message == "Ensure that there are no more than 1 digit in total."
    err = fails(v.DecimalValidator(None, 1), Decimal("1.25"))
    assert err.message == "Ensure that there are no more than 1 decimal place."
    passes(v.DecimalValidator(None, None), Decimal("123456789.123456789"))


# -- null characters, files ----------------------------------------------------------


def test_prohibit_null_characters():
    val = v.ProhibitNullCharactersValidator()
    passes(val, "fine")
    passes(val, 12)
    err = fails(val, "bad\x00")
    assert err.code == "null_characters_not_allowed"
    assert err.message == "Null characters are not allowed."
    assert v.ProhibitNullCharactersValidator(message="x") != val


def test_file_extension():
    val = v.FileExtensionValidator(["PDF", ".png"])
    passes(val, "report.pdf")
    passes(val, Path("/tmp/image.PNG"))

    class Upload:
        name = "doc.Pdf"

    passes(val, Upload())
    err = fails(val, "notes.txt")
    assert err.code == "invalid_extension"
    assert err.message == (
        "File extension “txt” is not allowed. Allowed extensions are: pdf, png."
    )
    fails(val, "no_extension")
    passes(v.FileExtensionValidator(), "anything.xyz")
    assert v.FileExtensionValidator(["a", "b"]) == v.FileExtensionValidator(["B", "A"])


# -- equality, hashing, deconstruct --------------------------------------------------


EQUAL_PAIRS = [
    (v.MinValueValidator(1), v.MinValueValidator(1)),
    (v.MaxValueValidator(1), v.MaxValueValidator(1)),
    (v.MinLengthValidator(2), v.MinLengthValidator(2)),
    (v.MaxLengthValidator(2), v.MaxLengthValidator(2)),
    (v.StepValueValidator(2), v.StepValueValidator(2)),
    (v.RegexValidator("a"), v.RegexValidator("a")),
    (v.EmailValidator(), v.EmailValidator()),
    (v.URLValidator(), v.URLValidator()),
    (v.DecimalValidator(5, 2), v.DecimalValidator(5, 2)),
    (v.ProhibitNullCharactersValidator(), v.ProhibitNullCharactersValidator()),
    (v.FileExtensionValidator(["x"]), v.FileExtensionValidator(["x"])),
]


@pytest.mark.parametrize("a,b", EQUAL_PAIRS)
def test_equal_validators_hash_equal(a, b):
    assert a == b
    assert hash(a) == hash(b)
    assert len({a, b}) == 1


def test_unequal_validators():
    assert v.MinValueValidator(1) != v.MinValueValidator(2)
    assert v.MinValueValidator(1) != v.MaxValueValidator(1)
    assert v.MinValueValidator(1, message="m") != v.MinValueValidator(1)
    assert v.RegexValidator("a") != v.RegexValidator("b")
    assert v.RegexValidator("a") != v.RegexValidator("a", flags=re.IGNORECASE)
    assert v.RegexValidator("a") != v.RegexValidator("a", inverse_match=True)
    assert v.RegexValidator("a") != v.RegexValidator("a", code="other")
    assert v.DecimalValidator(5, 2) != v.DecimalValidator(5, 3)
    assert v.MinValueValidator(1) != 1


ALL_INSTANCES = [a for a, _ in EQUAL_PAIRS] + [
    v.MinValueValidator(limit_value=3, message="m"),
    v.RegexValidator(r"^\d+\Z", message="digits", code="d", inverse_match=False, flags=re.IGNORECASE),
    v.URLValidator(schemes=["https"]),
    v.StepValueValidator(3, offset=1),
    v.validate_slug,
    v.validate_unicode_slug,
    v.validate_email,
    v.int_list_validator(sep=";"),
]


@pytest.mark.parametrize("validator", ALL_INSTANCES, ids=repr)
def test_deconstruct_round_trip(validator):
    path, args, kwargs = validator.deconstruct()
    assert isinstance(args, tuple) and isinstance(kwargs, dict)
    module_name, _, name = path.rpartition(".")
    assert module_name == "dorm.validators"
    cls = getattr(importlib.import_module(module_name), name)
    rebuilt = cls(*args, **kwargs)
    assert rebuilt == validator
    assert rebuilt.deconstruct() == (path, args, kwargs)


def test_deconstruct_shape():
    assert v.MinValueValidator(3).deconstruct() == ("dorm.validators.MinValueValidator",
                                                    (3,), {})
    assert v.DecimalValidator(max_digits=5, decimal_places=2).deconstruct() == (
        "dorm.validators.DecimalValidator", (), {"max_digits": 5, "decimal_places": 2}
    )
    path, args, _kwargs = v.validate_slug.deconstruct()
    assert path == "dorm.validators.RegexValidator"
    assert args[0] == r"^[-a-zA-Z0-9_]+\Z"  # plain strings: easy to serialise


def test_deconstruct_subclass_uses_its_module():
    class MyValidator(v.MinValueValidator):
        pass

    path, _, _ = MyValidator(1).deconstruct()
    assert path == f"{__name__}.test_deconstruct_subclass_uses_its_module.<locals>.MyValidator"


@pytest.mark.parametrize("validator", ALL_INSTANCES, ids=repr)
def test_copy_and_pickle(validator):
    assert copy.copy(validator) == validator
    assert copy.deepcopy(validator) == validator
    if not any(callable(a) for a in validator.deconstruct()[1]):
        assert pickle.loads(pickle.dumps(validator)) == validator


def test_repr():
    assert repr(v.MinValueValidator(3)) == "MinValueValidator(3)"
    assert repr(v.EmailValidator()) == "EmailValidator()"


def test_function_validators_are_importable_by_path():
    for fn in (v.validate_ipv4_address, v.validate_ipv6_address, v.validate_ipv46_address,
               v.validate_integer):
        mod = importlib.import_module(fn.__module__)
        assert getattr(mod, fn.__qualname__) is fn


def test_all_exports_exist():
    for name in v.__all__:
        assert hasattr(v, name), name
