"""``Choices``, ``TextChoices``, ``IntegerChoices``: enums with labels for ``choices=``.

    class Size(dorm.TextChoices):
        SMALL = "S", "Small"
        LARGE = "L"                 # label "Large" (from the name)

    size = dorm.CharField(max_length=1, choices=Size)   # or Size.choices
"""
from __future__ import annotations

import enum


class ChoicesMeta(enum.EnumMeta):
    def __new__(metacls, classname, bases, classdict, **kwds):
        labels = []
        for key in list(classdict._member_names):
            value = classdict[key]
            if isinstance(value, (list, tuple)) and len(value) > 1 and isinstance(value[-1], str):
                *value, label = value
                value = tuple(value) if len(value) > 1 else value[0]
            else:
                label = key.replace("_", " ").title()
            labels.append(label)
            dict.__setitem__(classdict, key, value)
        cls = super().__new__(metacls, classname, bases, classdict, **kwds)
        for member, label in zip(cls.__members__.values(), labels):
            member._label_ = label
        return cls

    @property
    def choices(cls):
        return [(m.value, m.label) for m in cls]

    @property
    def labels(cls):
        return [m.label for m in cls]

    @property
    def values(cls):
        return [m.value for m in cls]

    @property
    def names(cls):
        return [m.name for m in cls]


class Choices(enum.Enum, metaclass=ChoicesMeta):
    @property
    def label(self):
        return self._label_

    def __str__(self):
        return str(self.value)


class IntegerChoices(int, Choices):
    pass


class TextChoices(str, Choices):
    @staticmethod
    def _generate_next_value_(name, start, count, last_values):
        return name


__all__ = ["Choices", "IntegerChoices", "TextChoices"]
