"""``HashShardRouter``: send each sharded model to the shard of the active shard key.

Use it in ``settings.DATABASE_ROUTERS`` (an instance or a dotted path to one), or
register it as a plugin (``dorm.plugins.register(router)``): it answers the kernel's
``dorm_db_for_read`` / ``dorm_db_for_write`` / ``dorm_allow_relation`` /
``dorm_allow_migrate`` hooks too. ``settings.SHARDING`` can also describe one
(see ``plugin.py``).
"""
from __future__ import annotations

import threading
import weakref

from dorm.hookspecs import hookimpl
from dorm.models.base import peek_state

from . import breaker as _breaker
from .context import get_shard_key
from .exceptions import ShardKeyMismatch, ShardKeyRequired
from .placement import (
    DEFAULT_SALT,
    _check_count,
    _salt_bytes,
    check_algorithm,
    check_aliases,
    shard_index,
)

DEFAULT_DB_ALIAS = "default"


def _label_of(meta) -> tuple[str, str]:
    return str(meta.app_label).lower(), str(meta.model_name).lower()


def _label_matches(app_label: str, model_name: str, target: str) -> bool:
    t_app, _, t_name = target.rpartition(".")
    if t_name != model_name:
        return False
    return not t_app or t_app == app_label or t_app.split(".")[-1] == app_label.split(".")[-1]


def _parse_specs(shard_models):
    """``[(class_or_label_lower, key_field_or_None)]``; ``None`` = every model."""
    if shard_models is None:
        return None
    if isinstance(shard_models, (str, type)):
        shard_models = [shard_models]
    items = shard_models.items() if isinstance(shard_models, dict) else ((m, None) for m in shard_models)
    specs = []
    for target, key_field in items:
        if isinstance(target, str):
            if not target or " " in target:
                raise ValueError(f"shard_models entries must be model classes or 'app_label.Model' labels, "
                                 f"got {target!r}")
            target = target.lower()
        elif not (isinstance(target, type) and hasattr(target, "_meta")):
            raise TypeError(f"shard_models entries must be model classes or 'app_label.Model' labels, "
                            f"got {target!r}")
        if key_field is not None and not isinstance(key_field, str):
            raise TypeError(f"the shard key field of {target!r} must be a field name, got {key_field!r}")
        specs.append((target, key_field))
    return specs


class HashShardRouter:
    """Route sharded models by the hash of the shard key in context.

    ``HashShardRouter(*, num_shards, shard_models=None, aliases=None, salt=b"dorm-shard",
    algorithm="jump", unsharded_on_shards=False)``

    * ``shard_models`` – model classes or ``"app_label.Model"`` labels (subclasses and
      proxies included), or a dict ``{model: "key_field"}`` naming the field that holds
      each model's shard key (lets a new instance be placed by its own key, and lets
      ``dorm shards rebalance`` move rows). ``None`` shards every model.
    * ``aliases`` – the shard aliases (default ``shard_0 .. shard_{N-1}``).
    * ``algorithm`` – ``"jump"`` (jump consistent hash) or ``"modulo"`` (the djanorm
      4.0 reference placement); see ``placement.py``.
    * ``unsharded_on_shards`` – ``allow_migrate`` lets unsharded models' tables be
      created on shard aliases too (default: they live on ``default`` only).

    Reads and writes of a sharded model go to ``shard_for(get_shard_key())``. Without a
    key: a new instance with its key field set is placed by that key; an instance
    loaded from a shard stays there; anything else raises ``ShardKeyRequired`` naming
    the model (it propagates: never a silent fall-back to ``default``). Unsharded
    models get ``None`` (the next router decides; ``default`` at the end).
    """

    def __init__(self, *, num_shards, shard_models=None, aliases=None, salt=DEFAULT_SALT,
                 algorithm: str = "jump", unsharded_on_shards: bool = False):
        self.num_shards = _check_count(num_shards)
        self.aliases = tuple(check_aliases(aliases, num_shards))
        self.salt = _salt_bytes(salt)
        self.algorithm = check_algorithm(algorithm)
        self.unsharded_on_shards = bool(unsharded_on_shards)
        self._alias_set = frozenset(self.aliases)
        self._specs = _parse_specs(shard_models)
        self._cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        _breaker.manage(self.aliases)

    def __repr__(self) -> str:
        return (f"HashShardRouter(num_shards={self.num_shards}, aliases={list(self.aliases)!r}, "
                f"algorithm={self.algorithm!r})")

    # ---- placement ------------------------------------------------------------------------------
    def shard_for(self, key) -> str:
        """The alias of ``key``'s shard under this router's salt and algorithm."""
        return self.aliases[shard_index(key, self.num_shards, salt=self.salt, algorithm=self.algorithm)]

    def is_shard(self, alias) -> bool:
        return alias in self._alias_set

    # ---- which models ---------------------------------------------------------------------------
    def _classify(self, model) -> tuple[bool, str | None]:
        """``(sharded, key field name)`` for a model class (historical migration models
        are matched by label)."""
        try:
            cached = self._cache.get(model)
        except TypeError:
            cached = None
        if cached is not None:
            return cached
        result = self._compute(model)
        try:
            self._cache[model] = result
        except TypeError:  # pragma: no cover - not weak-referenceable
            pass
        return result

    def _compute(self, model) -> tuple[bool, str | None]:
        meta = getattr(model, "_meta", None)
        if meta is None:
            return (False, None)
        if self._specs is None:
            return (True, None)
        app_label, model_name = _label_of(meta)
        for target, key_field in self._specs:
            if isinstance(target, type):
                if isinstance(model, type) and issubclass(model, target):
                    return (True, key_field)
                if _label_of(target._meta) == (app_label, model_name):
                    return (True, key_field)
                continue
            if _label_matches(app_label, model_name, target):
                return (True, key_field)
            resolved = self._resolve_label(target)
            if resolved is not None and isinstance(model, type) and issubclass(model, resolved):
                return (True, key_field)
        concrete = getattr(meta, "concrete_model", None)
        if concrete is not None and concrete is not model:
            return self._compute(concrete)
        return (False, None)

    @staticmethod
    def _resolve_label(label: str):
        try:
            from dorm.models.options import registry
        except ImportError:  # pragma: no cover
            return None
        try:
            return registry.get_model(label)
        except LookupError:
            return None

    def is_sharded(self, model) -> bool:
        """Does this router shard ``model``?"""
        return self._classify(model)[0]

    def key_field(self, model) -> str | None:
        """The name of the field holding ``model``'s shard key, when declared."""
        return self._classify(model)[1]

    def key_attname(self, model) -> str | None:
        name = self.key_field(model)
        if name is None:
            return None
        return model._meta.get_field(name).attname

    def sharded_models(self) -> list:
        """The registered concrete models this router shards (for fan-out tools)."""
        from dorm.models.options import registry

        out = []
        for model in registry.get_models():
            meta = model._meta
            if getattr(meta, "proxy", False) or getattr(meta, "abstract", False):
                continue
            if self.is_sharded(model):
                out.append(model)
        return out

    # ---- routing ---------------------------------------------------------------------------------
    def _route(self, model, hints) -> str | None:
        sharded, key_field = self._classify(model)
        if not sharded:
            return None
        _breaker.ensure_guard()
        key = get_shard_key()
        instance = hints.get("instance")
        alias = None
        if key is not None:
            alias = self.shard_for(key)
            if instance is not None and key_field:
                own = instance.__dict__.get(model._meta.get_field(key_field).attname)
                if own is not None and self.shard_for(own) != alias:
                    raise ShardKeyMismatch(
                        f"{model.__name__}.{key_field}={own!r} belongs on shard {self.shard_for(own)!r}, "
                        f"but the shard key in context ({key!r}) routes to {alias!r}: the row would be "
                        f"written where lookups by its key never look")
        elif instance is not None:
            state = peek_state(instance)
            db = getattr(state, "db", None)
            if db in self._alias_set:
                alias = db
            elif key_field:
                own = instance.__dict__.get(model._meta.get_field(key_field).attname)
                if own is not None:
                    alias = self.shard_for(own)
        if alias is None:
            raise ShardKeyRequired(
                f"{model.__name__} is sharded across {self.num_shards} shards by HashShardRouter, "
                f"but no shard key is set: wrap the code in `with with_shard_key(key):` (or "
                f"`async with`), or address a shard explicitly with .using(alias) / "
                f"for_each_shard(). A sharded model is never sent to 'default'.")
        _breaker.check(alias)
        return alias

    def db_for_read(self, model, **hints):
        return self._route(model, hints)

    def db_for_write(self, model, **hints):
        return self._route(model, hints)

    def allow_relation(self, obj1, obj2, **hints):
        s1 = self.is_sharded(type(obj1))
        s2 = self.is_sharded(type(obj2))
        if not (s1 or s2):
            return None
        db1 = getattr(peek_state(obj1), "db", None)
        db2 = getattr(peek_state(obj2), "db", None)
        if db1 and db2:
            return db1 == db2
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        model = hints.get("model")
        if model is not None:
            sharded = self.is_sharded(model)
        elif model_name:
            resolved = self._resolve_label(f"{app_label}.{model_name}")
            if resolved is not None:
                sharded = self.is_sharded(resolved)
            elif self._specs is None:
                sharded = True
            else:
                sharded = any(isinstance(t, str) and _label_matches(app_label.lower(), model_name.lower(), t)
                              or isinstance(t, type) and _label_of(t._meta) == (app_label.lower(),
                                                                                model_name.lower())
                              for t, _ in self._specs)
        else:
            return None
        if sharded:
            return db in self._alias_set
        if db in self._alias_set and db != DEFAULT_DB_ALIAS and not self.unsharded_on_shards:
            return False
        return None

    # ---- the same, as pluggy routing hooks ---------------------------------------------------------
    @hookimpl
    def dorm_db_for_read(self, model, hints):
        return self._route(model, hints)

    @hookimpl
    def dorm_db_for_write(self, model, hints):
        return self._route(model, hints)

    @hookimpl
    def dorm_allow_relation(self, obj1, obj2, hints):
        return self.allow_relation(obj1, obj2, **hints)

    @hookimpl
    def dorm_allow_migrate(self, alias, app_label, model_name, hints):
        return self.allow_migrate(alias, app_label, model_name=model_name, **hints)


# ---- finding the configured routers ------------------------------------------------------------------
def shard_routers() -> list[HashShardRouter]:
    """Every ``HashShardRouter`` in use: ``settings.DATABASE_ROUTERS`` first, then the
    ones registered as plugins (including the one built from ``settings.SHARDING``)."""
    from dorm import plugins
    from dorm.db.router import router as chain

    found: list[HashShardRouter] = [r for r in chain.routers if isinstance(r, HashShardRouter)]
    for plugin in plugins.get_plugin_manager().get_plugins():
        if isinstance(plugin, HashShardRouter) and plugin not in found:
            found.append(plugin)
    return found


def get_router(router=None) -> HashShardRouter:
    """``router`` itself, or the only configured ``HashShardRouter`` (a clear error when
    there is none or several)."""
    if router is not None:
        if not isinstance(router, HashShardRouter):
            raise TypeError(f"router must be a HashShardRouter, got {type(router).__name__}")
        return router
    from dorm.exceptions import ImproperlyConfigured

    found = shard_routers()
    if not found:
        raise ImproperlyConfigured(
            "no HashShardRouter is configured: add one to settings.DATABASE_ROUTERS (or "
            "settings.SHARDING), or pass aliases=/num_shards=/router= explicitly")
    distinct = {(r.aliases, r.algorithm, r.salt) for r in found}
    if len(distinct) > 1:
        raise ImproperlyConfigured(
            f"{len(found)} HashShardRouters with different shards are configured; pass router= "
            "to say which one")
    return found[0]


__all__ = ["HashShardRouter", "get_router", "shard_routers"]
