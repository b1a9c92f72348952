"""Hook implementations of dorm-pydantic (import-light: pydantic is imported only when
``dorm.contrib.pydantic`` is)."""
from __future__ import annotations

import dorm


@dorm.hookimpl
def dorm_register_modules(register):
    register("dorm.contrib.pydantic", "dorm_pydantic.api")
