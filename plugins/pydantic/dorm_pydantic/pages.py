"""``list_response_schema(item)``: the envelope of a list endpoint.

Shape: ``{"items": [...], "count": N, "next_cursor": {...} | null, "has_next": bool}``.
``next_cursor`` and ``has_next`` are those of the kernel's keyset pagination
(``QuerySet.cursor_paginate`` -> ``CursorPage``): a client sends ``next_cursor`` back and
the server passes it as ``cursor_paginate(after=...)``. ``count`` is the number of items
in this page unless the caller gives a total.
"""
from __future__ import annotations

from typing import Any, ClassVar, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .base import DormSchema
from .options import MODULE, SchemaConfigError, cached, check_class_name


class ListResponse(BaseModel):
    """Base of the classes ``list_response_schema`` builds."""

    model_config = ConfigDict(from_attributes=True, extra="forbid")

    #: the item schema
    item_schema: ClassVar[Any] = None

    @model_validator(mode="before")
    @classmethod
    def _read_page(cls, data):
        if isinstance(data, (dict, BaseModel)):
            return data
        if hasattr(data, "items") and hasattr(data, "has_next"):      # a CursorPage
            items = list(data.items)
            return {"items": items, "count": len(items),
                    "next_cursor": data.next_cursor, "has_next": bool(data.has_next)}
        if hasattr(data, "__iter__") and not isinstance(data, (str, bytes)):
            items = list(data)                                          # list, QuerySet
            return {"items": items, "count": len(items)}
        return data

    @classmethod
    def from_page(cls, page, *, count: int | None = None):
        """The response for a ``CursorPage`` (or any iterable of items: one page, no
        cursor). ``count`` overrides the number of items (e.g. a total)."""
        out = cls.model_validate(page)
        if count is not None:
            out.count = count
        return out


def list_response_schema(item, *, name: str | None = None) -> type[ListResponse]:
    """The list envelope of ``item``: a schema class (any pydantic model) or a dorm model
    class (then ``schema_for(item)``). Fields: ``items: list[item]``, ``count: int``,
    ``next_cursor: dict | None``, ``has_next: bool``. Validates from a ``CursorPage``,
    a QuerySet or a list (``Page.model_validate(qs.cursor_paginate(...))`` or
    ``Page.from_page(page)``). ``name`` defaults to ``<Item>List``. Cached per item."""
    what = "list_response_schema"
    if isinstance(item, type) and hasattr(item, "_meta") and not issubclass(item, BaseModel):
        from .schemas import schema_for

        item = schema_for(item)
    if not (isinstance(item, type) and issubclass(item, BaseModel)):
        raise SchemaConfigError(f"{what}(item): a pydantic model class or a dorm model class "
                                f"is needed, got {item!r}")
    default = item.__name__.removesuffix("Schema") + "List"
    cls_name = check_class_name(name, default, what)
    owner = item.__dorm_model__ if issubclass(item, DormSchema) and item.__dorm_model__ else item

    def build():
        namespace = {
            "__module__": MODULE,
            "__qualname__": cls_name,
            "__doc__": f"A page of {item.__name__} items (dorm.contrib.pydantic).",
            "__annotations__": {"items": list[item], "count": int,
                                "next_cursor": Optional[dict[str, Any]], "has_next": bool},
            "items": Field(default_factory=list),
            "count": Field(default=0, ge=0),
            "next_cursor": Field(default=None, description="pass back as "
                                 "cursor_paginate(after=...) for the next page"),
            "has_next": False,
            "item_schema": item,
        }
        return type(ListResponse)(cls_name, (ListResponse,), namespace)

    return cached(owner, ("list", item, cls_name), build)
