"""Enums of test_enum (importable by the migration files the tests write)."""
import enum


class ColorV1(enum.Enum):
    RED = "red"
    GREEN = "green"


class ColorV2(enum.Enum):      # the same type one release later: a new member
    RED = "red"
    BLUE = "blue"
    GREEN = "green"
