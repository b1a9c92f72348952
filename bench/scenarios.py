"""The benchmark scenarios: what each one measures, its unit and dorm's target.

A scenario is implemented by each peer (``bench/peers/<name>.py``) as a method
``op_<scenario name>``; a peer without the method shows ``n/a`` for it. ``target``
is the largest dorm/raw time ratio the project aims for (from the issue).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    unit: str  # "op" or "row": what the reported µs are per
    state: str  # "as-is" (no set-up), "empty" (cleared before each run), "populated"
    target: float | None
    description: str

    def units(self, cfg) -> int:
        """How many units one timed run performs, for the given run config."""
        return {
            "create": cfg.ops,
            "bulk_create": cfg.rows,
            "get": cfg.ops,
            "aget": cfg.ops,
            "count": cfg.count_ops,
            "list": cfg.list_ops * cfg.list_limit,
            "update": cfg.ops,
            "values_list": cfg.rows,
            "select_related": cfg.related_ops * RELATED_ROWS,
        }[self.name]


SCENARIOS: list[Scenario] = [
    Scenario("create", "create()", "op", "as-is", 3.0,
             "insert one row per call, autocommit (Model.objects.create)"),
    Scenario("bulk_create", "bulk_create()", "row", "empty", 2.0,
             "insert ROWS rows in one call (objects built inside the timing)"),
    Scenario("get", "get(pk=)", "op", "populated", 4.0,
             "fetch one row by primary key into an instance"),
    Scenario("aget", "aget(pk=)", "op", "populated", 4.0,
             "await one row by primary key into an instance (async driver or worker thread)"),
    Scenario("count", "filter().count()", "op", "populated", 1.3,
             "COUNT(*) with a WHERE on an unindexed column over ROWS rows"),
    Scenario("list", "list(qs[:100])", "row", "populated", 3.0,
             "fetch 100 rows into instances"),
    Scenario("update", "filter(pk=).update()", "op", "populated", 3.0,
             "UPDATE one row by primary key, autocommit"),
    Scenario("values_list", "values_list()", "row", "populated", 1.5,
             "fetch all ROWS rows as tuples"),
    Scenario("select_related", "select_related() 1k", "row", "as-is", 2.5,
             "fetch 1,000 pets with their owner in one JOIN into instances"),
]

BY_NAME = {s.name: s for s in SCENARIOS}


def make_row(i: int) -> tuple[str, int, float]:
    """The (name, value, score) of row number ``i``: the same data for every peer."""
    return (f"item-{i:06d}", i % 1000, i * 0.5)


#: The select_related scenario: RELATED_ROWS pets spread over RELATED_OWNERS owners,
#: created once by each peer's ``setup``.
RELATED_ROWS = 1000
RELATED_OWNERS = 100


def make_owner(i: int) -> str:
    return f"owner-{i:04d}"


def make_pet(i: int) -> tuple[str, int]:
    """(name, owner number 1..RELATED_OWNERS) of pet ``i``."""
    return (f"pet-{i:05d}", i % RELATED_OWNERS + 1)


#: ``filter(value__lt=COUNT_THRESHOLD)``: matches about half the rows.
COUNT_THRESHOLD = 500
