"""Hook implementations of dorm-outbox (import-light: the API loads on first use)."""
from __future__ import annotations

import sys

import dorm


@dorm.hookimpl
def dorm_register_modules(register):
    register("dorm.contrib.outbox", "dorm_outbox.api")


@dorm.hookimpl
def dorm_model_prepared(model):
    # Only a subclass of OutboxEvent needs work, and OutboxEvent lives in
    # dorm_outbox.models: if that module is not imported yet, no such subclass exists.
    models = sys.modules.get("dorm_outbox.models")
    if models is not None and getattr(models, "OutboxEvent", None) is not None:
        models.prepare(model)
