"""``ContentTypeManager``: content types by model, natural key or id, cached per alias.

Contract:

* ``get_for_model(model_or_instance, for_concrete_model=True)`` → the ``ContentType``
  of the model (its concrete model unless ``for_concrete_model=False``), created on
  demand. Creation is race-safe: the INSERT runs in its own savepoint and a unique
  violation (another process created it first) falls back to reading the row.
* ``get_for_models(*models, for_concrete_models=True)`` → ``{model: ContentType}``
  with one SELECT for all uncached models (plus one INSERT per missing row).
* ``get_for_id(id)`` → the ``ContentType`` with that primary key
  (``ContentType.DoesNotExist`` when there is none).
* ``get_by_natural_key(app_label, model)`` → the row, never created.
* each has an async twin (``aget_for_model`` ...) sharing the same code.

The cache maps ``alias -> {(app_label, model): ct, id: ct}``; it is shared by every
manager instance and thread. It is cleared: by ``clear_cache()`` (all aliases, or
``using=``), when ``settings.DATABASES`` changes, and for an alias whenever the
content-type table is created, rebuilt or dropped there (``create_tables``,
``drop_tables``, ``migrate``: see ``ContentTypeNameField``). A row this manager
created inside a transaction that is later rolled back is evicted at the rollback. The alias is the
manager's pinned one (``db_manager(alias)``), else the router's read alias.
"""
from __future__ import annotations

import threading

from dorm.exceptions import IntegrityError
from dorm.models import Manager
from dorm.models.sansio import run_async, run_sync

_lock = threading.Lock()
#: alias -> {(app_label, model): ContentType, id: ContentType}
_cache: dict[str, dict] = {}
_subscribed = False


def natural_key_for(model, for_concrete_model: bool = True) -> tuple[str, str]:
    """``(app_label, model_name)`` identifying ``model`` (a model class or instance)."""
    opts = getattr(model, "_meta", None)
    if opts is None or not hasattr(opts, "model_name"):
        raise TypeError(f"expected a model class or instance, got {model!r}")
    if for_concrete_model and opts.concrete_model is not None:
        opts = opts.concrete_model._meta
    return opts.app_label, opts.model_name


def _settings_changed(changed) -> None:
    if "DATABASES" in set(changed or ()):
        clear_cache()


def _subscribe() -> None:
    global _subscribed
    if _subscribed:
        return
    from dorm.conf import settings

    settings.on_change(_settings_changed)
    _subscribed = True


def clear_cache(using: str | None = None) -> None:
    """Forget cached content types (of ``using`` only, when given)."""
    with _lock:
        if using is None:
            _cache.clear()
        else:
            _cache.pop(using, None)


def cached(using: str, key):
    """The cached ``ContentType`` for ``key`` (natural key tuple or id) on ``using``, or None."""
    bucket = _cache.get(using)
    return bucket.get(key) if bucket else None


def _remember(using: str, ct) -> None:
    _subscribe()
    with _lock:
        bucket = _cache.setdefault(using, {})
        bucket[(ct.app_label, ct.model)] = ct
        bucket[ct.pk] = ct


def forget(using: str, key, pk) -> None:
    """Drop the cache entries of one content type (its natural key and id) on ``using``."""
    with _lock:
        bucket = _cache.get(using)
        if bucket:
            bucket.pop(key, None)
            bucket.pop(pk, None)


def _create_forgotten_on_rollback(qs, alias, app_label, model):
    """Generator: INSERT the row, and evict it from the cache if an enclosing
    transaction rolls back (a ``dorm.test.rollback`` block, a failed ``atomic()``):
    the cache must never hold an id that no longer exists."""
    import functools

    from dorm import transaction

    ct = yield from qs._create_gen(app_label=app_label, model=model)
    transaction.on_rollback(functools.partial(forget, alias, (app_label, model), ct.pk), using=alias)
    return ct


class ContentTypeManager(Manager):
    """The manager of ``ContentType`` (see the module docstring)."""

    use_in_migrations = True

    # ---- the cache -----------------------------------------------------------------------
    def clear_cache(self, using: str | None = None) -> None:
        """Forget every cached content type (or those of alias ``using``)."""
        clear_cache(using)

    def _alias(self, using=None) -> str:
        return using or self.db

    # ---- generators (sync and async share them) ---------------------------------------------
    def _get_for_models_gen(self, models, for_concrete_models=True, using=None):
        """Generator: the content types of ``models`` (classes or instances), as a list
        in the same order."""
        alias = self._alias(using)
        keys = [natural_key_for(model, for_concrete_models) for model in models]
        found = {key: ct for key in keys if (ct := cached(alias, key)) is not None}
        missing = sorted(set(keys) - set(found))
        if missing:
            qs = self.get_queryset().using(alias)
            rows = yield from qs.filter(app_label__in=sorted({k[0] for k in missing}),
                                        model__in=sorted({k[1] for k in missing}))._fetch_gen()
            for ct in rows:
                _remember(alias, ct)
                found[(ct.app_label, ct.model)] = ct
            for key in missing:
                if key not in found:
                    found[key] = yield from self._insert_gen(alias, *key)
        return [found[key] for key in keys]

    def _insert_gen(self, alias, app_label, model):
        qs = self.get_queryset().using(alias)
        try:
            ct = yield ("atomic", alias, _create_forgotten_on_rollback(qs, alias, app_label, model))
        except IntegrityError:  # created concurrently: read the winner's row
            ct = yield from qs._get_gen(app_label=app_label, model=model)
        _remember(alias, ct)
        return ct

    def _get_for_model_gen(self, model, for_concrete_model=True, using=None):
        (ct,) = yield from self._get_for_models_gen([model], for_concrete_model, using)
        return ct

    def _get_for_ids_gen(self, ids, using=None):
        """``{id: ContentType}`` for ``ids`` (one query for the uncached ones; ids
        without a row are left out)."""
        alias = self._alias(using)
        result, missing = {}, []
        for ct_id in ids:
            ct = cached(alias, ct_id)
            if ct is not None:
                result[ct_id] = ct
            else:
                missing.append(ct_id)
        if missing:
            rows = yield from self.get_queryset().using(alias).filter(pk__in=missing)._fetch_gen()
            for ct in rows:
                _remember(alias, ct)
                result[ct.pk] = ct
        return result

    def _get_for_id_gen(self, ct_id, using=None):
        found = yield from self._get_for_ids_gen([ct_id], using)
        ct = found.get(ct_id)
        if ct is None:
            raise self.model.DoesNotExist(f"ContentType matching id={ct_id!r} does not exist.")
        return ct

    def _get_by_natural_key_gen(self, app_label, model, using=None):
        alias = self._alias(using)
        ct = cached(alias, (app_label, model))
        if ct is None:
            ct = yield from self.get_queryset().using(alias)._get_gen(app_label=app_label, model=model)
            _remember(alias, ct)
        return ct

    # ---- public API ------------------------------------------------------------------------
    def get_for_model(self, model, for_concrete_model=True):
        """The content type of ``model`` (class or instance), created if missing."""
        return run_sync(self._get_for_model_gen(model, for_concrete_model))

    async def aget_for_model(self, model, for_concrete_model=True):
        return await run_async(self._get_for_model_gen(model, for_concrete_model))

    def get_for_models(self, *models, for_concrete_models=True):
        """``{model: ContentType}`` for ``models``, created where missing."""
        return dict(zip(models, run_sync(self._get_for_models_gen(models, for_concrete_models))))

    async def aget_for_models(self, *models, for_concrete_models=True):
        return dict(zip(models, await run_async(self._get_for_models_gen(models, for_concrete_models))))

    def get_for_id(self, id):  # noqa: A002 - Django's parameter name
        """The content type with primary key ``id`` (cached after the first read)."""
        return run_sync(self._get_for_id_gen(id))

    async def aget_for_id(self, id):  # noqa: A002
        return await run_async(self._get_for_id_gen(id))

    def get_by_natural_key(self, app_label, model):
        """The content type ``(app_label, model)``; ``DoesNotExist`` if absent (not created)."""
        return run_sync(self._get_by_natural_key_gen(app_label, model))

    async def aget_by_natural_key(self, app_label, model):
        return await run_async(self._get_by_natural_key_gen(app_label, model))
