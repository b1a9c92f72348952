"""Hook implementations of dorm-tree (kept import-light: nothing heavy at load)."""
from __future__ import annotations

import dorm


@dorm.hookimpl
def dorm_register_modules(register):
    register("dorm.tree", "dorm_tree.api")
