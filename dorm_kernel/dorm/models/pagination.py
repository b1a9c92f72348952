"""``CursorPage``: one page of keyset pagination (``QuerySet.cursor_paginate``)."""
from __future__ import annotations


class CursorPage:
    """``items`` (the rows), ``next_cursor`` (pass as ``after=`` for the next page;
    None on the last page), ``has_next``. Iterable, sized, truthy when not empty."""

    def __init__(self, items, next_cursor, has_next):
        self.items = items
        self.next_cursor = next_cursor
        self.has_next = has_next

    def __iter__(self):
        return iter(self.items)

    def __len__(self):
        return len(self.items)

    def __bool__(self):
        return bool(self.items)

    def __repr__(self):
        return f"<CursorPage {len(self.items)} items, has_next={self.has_next}>"
