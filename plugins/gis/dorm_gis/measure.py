"""Distances with explicit units: ``D(m=500)``, ``D(km=2)``, ``D(mi=1)``.

A plain number given to ``dwithin`` / ``distance_*`` is in the field's native units:
metres on geography fields, the SRID's units on geometry fields (degrees for SRID
4326). A ``D`` is always a ground distance in metres (geodesic, on the WGS84
ellipsoid, for geometry fields), whatever the SRID.
"""
from __future__ import annotations

import math

UNITS = {
    "m": 1.0, "km": 1000.0, "cm": 0.01, "mm": 0.001,
    "mi": 1609.344, "yd": 0.9144, "ft": 0.3048, "inch": 0.0254, "nm": 1852.0,
}


class D:
    """A distance: ``D(m=1500)``, ``D(km=1.5)``; ``.m`` / ``.km`` / ``.mi`` read it back."""

    __slots__ = ("_metres",)

    def __init__(self, **units):
        if not units:
            raise TypeError("D() needs a distance with a unit, e.g. D(m=500) or D(km=2)")
        total = 0.0
        for unit, value in units.items():
            factor = UNITS.get(unit)
            if factor is None:
                raise TypeError(f"unknown distance unit {unit!r}; use one of {', '.join(UNITS)}")
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"D({unit}=...) needs a number, got {value!r}")
            total += float(value) * factor
        if math.isnan(total) or total < 0:
            raise ValueError(f"a distance must be a non-negative number, got {units!r}")
        self._metres = total

    @property
    def m(self) -> float:
        return self._metres

    def __getattr__(self, unit):
        factor = UNITS.get(unit)
        if factor is None:
            raise AttributeError(unit)
        return self._metres / factor

    def __eq__(self, other):
        return isinstance(other, D) and other._metres == self._metres

    def __lt__(self, other):
        return self._metres < other._metres

    def __hash__(self):
        return hash(("D", self._metres))

    def __repr__(self):
        return f"D(m={self._metres!r})"


Distance = D

__all__ = ["UNITS", "D", "Distance"]
