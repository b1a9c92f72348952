"""Hook implementations of dorm-tenancy (import-light: the API loads on first use)."""
from __future__ import annotations

import sys

import dorm


@dorm.hookimpl
def dorm_register_modules(register):
    register("dorm.contrib.tenants_row", "dorm_tenancy.api")


@dorm.hookimpl
def dorm_model_prepared(model):
    # Only a subclass of TenantModel needs work, and TenantModel lives in
    # dorm_tenancy.api: if that module is not imported yet, no such subclass exists.
    api = sys.modules.get("dorm_tenancy.api")
    if api is not None and getattr(api, "TenantModel", None) is not None:
        api.prepare(model)
