"""The active tenant: a ``ContextVar``, so each thread and each asyncio task has its own.

``current_tenant("acme")`` pins a tenant for a block (``with`` or ``async with``);
blocks nest (the inner one wins, the outer one is back on exit). A new thread starts
with no tenant; an asyncio task starts with the tenant active where it was created
(``asyncio.create_task`` copies the context) and its own pins do not leak out.
"""
from __future__ import annotations

import uuid
from contextvars import ContextVar

_active: ContextVar = ContextVar("dorm_active_tenant", default=None)


class NoActiveTenantError(RuntimeError):
    """A tenant-scoped model was used outside ``current_tenant(...)``: dorm never
    falls back to "all tenants". Pin a tenant, or use the model's ``unscoped``
    manager on purpose."""


class TenantMismatchError(PermissionError):
    """A write (or a query built earlier) concerns a tenant other than the active one:
    saving or deleting a row of another tenant, moving a row to another tenant,
    ``bulk_create`` with a foreign ``tenant_id``, a QuerySet built for tenant A run
    under tenant B."""


_ACCEPTED = (str, int, uuid.UUID)


def check_tenant_id(tenant_id):
    """Validate a tenant id given to ``current_tenant``: a non-empty ``str``, an
    ``int`` (not ``bool``) or a ``uuid.UUID``. Each model then checks it against its
    tenant column (a ``CharField`` tenant column takes only ``str`` ids)."""
    if tenant_id is None:
        raise ValueError("current_tenant(None): pass a tenant id; to leave a tenant, exit its block")
    if isinstance(tenant_id, bool) or not isinstance(tenant_id, _ACCEPTED):
        raise TypeError(
            f"tenant id must be a str, an int or a uuid.UUID, got {type(tenant_id).__name__} "
            f"({tenant_id!r})")
    if isinstance(tenant_id, str) and not tenant_id.strip():
        raise ValueError("tenant id must not be empty or blank")
    return tenant_id


class current_tenant:
    """Pin ``tenant_id`` as the active tenant for a block; yields the id.

    ``with current_tenant("acme"): ...`` or ``async with current_tenant("acme"): ...``
    (the same object; the ``async with`` form is only for symmetry, the ``with``
    form works in async code too). Re-entrant: the instance keeps a stack of
    context tokens, so the same object can be entered again while open.
    """

    __slots__ = ("_tokens", "tenant_id")

    def __init__(self, tenant_id):
        self.tenant_id = check_tenant_id(tenant_id)
        self._tokens: list = []

    def __enter__(self):
        self._tokens.append(_active.set(self.tenant_id))
        return self.tenant_id

    def __exit__(self, *exc):
        _active.reset(self._tokens.pop())
        return False

    async def __aenter__(self):
        return self.__enter__()

    async def __aexit__(self, *exc):
        return self.__exit__(*exc)

    def __repr__(self):
        return f"current_tenant({self.tenant_id!r})"


def get_active_tenant():
    """The tenant id pinned by the innermost ``current_tenant`` block, or ``None``."""
    return _active.get()


def require_active_tenant(what: str = "this operation"):
    tenant = _active.get()
    if tenant is None:
        raise NoActiveTenantError(
            f"{what} needs an active tenant: wrap it in `with current_tenant(<id>):` "
            "(dorm never reads or writes all tenants implicitly; use the model's `unscoped` "
            "manager to do that on purpose)")
    return tenant
