"""What to install when a feature is missing.

dorm's documented API (``dorm.HStoreField``, ``import dorm.tree``, ``ENGINE:
"postgresql"``) is larger than the kernel: the rest comes from plugin
distributions. These tables map each documented plugin-provided name to the
distribution that provides it, so the error raised without that plugin says what to
``pip install`` instead of a bare ``AttributeError`` / ``ModuleNotFoundError``.

Error builders here also look at plugins that are installed but failed to load or
are disabled, and say so with the recorded error.
"""
from __future__ import annotations

from dorm.exceptions import PluginNotInstalled

#: engine keyword -> distribution providing it.
KNOWN_ENGINES: dict[str, str] = {
    "sqlite": "dorm-sqlite",
    "postgresql": "dorm-postgres",
    "postgres": "dorm-postgres",
    "duckdb": "dorm-duckdb",
    "mysql": "dorm-mysql",
    "mariadb": "dorm-mysql",
    "libsql": "dorm-libsql",
    "cockroachdb": "dorm-postgres",
    "cockroach": "dorm-postgres",
}

#: ``dorm.<Name>`` attributes provided by plugins -> distribution.
KNOWN_ATTRIBUTES: dict[str, str] = {
    **dict.fromkeys(
        [
            "HStoreField", "ArrayField", "IntegerRangeField", "BigIntegerRangeField",
            "DecimalRangeField", "DateRangeField", "DateTimeRangeField", "Range",
            "CITextField", "RangeField", "ExclusionConstraint",
        ],
        "dorm-postgres",
    ),
    **dict.fromkeys(
        ["PointField", "PolygonField", "GeometryField", "LineStringField"], "dorm-gis"
    ),
}

#: documented import paths provided by plugins -> distribution.
KNOWN_MODULES: dict[str, str] = {
    "dorm.tree": "dorm-tree",
    "dorm.contrib.tenants_row": "dorm-tenancy",
    "dorm.contrib.sharding": "dorm-sharding",
    "dorm.contrib.bulk_copy": "dorm-postgres",
    "dorm.contrib.listen_notify": "dorm-postgres",
    "dorm.contrib.lag_router": "dorm-postgres",
    "dorm.search": "dorm-postgres",
    "dorm.contrib.gis": "dorm-gis",
    "dorm.contrib.outbox": "dorm-outbox",
    "dorm.contrib.idempotency": "dorm-resilience",
    "dorm.contrib.circuit_breaker": "dorm-resilience",
    "dorm.contrib.otel": "dorm-otel",
    "dorm.contrib.pydantic": "dorm-pydantic",
    "dorm.cache.redis": "dorm-redis-cache",
}


def canonical_dist(name: str | None) -> str:
    """Normalise a distribution name (PEP 503) for comparisons."""
    return (name or "").lower().replace("_", "-").replace(".", "-")


def installed_but_unavailable(distribution: str) -> str | None:
    """Why ``distribution``'s plugin is unusable although installed, or ``None``.

    Looks at the plugin records: a failed or disabled entry point from that
    distribution yields a sentence naming the plugin and the reason.
    """
    from dorm.plugins.manager import records

    want = canonical_dist(distribution)
    for rec in records():
        if canonical_dist(rec.distribution) != want:
            continue
        if rec.status == "failed":
            return (
                f"{rec.distribution} {rec.version or ''} is installed but its plugin "
                f"{rec.name!r} failed to load: {rec.error}"
            ).replace("  ", " ")
        if rec.status == "disabled":
            return f"{rec.distribution} is installed but its plugin {rec.name!r} is {rec.error}"
    return None


def _installed_version(distribution: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def not_installed(what: str, distribution: str) -> PluginNotInstalled:
    """Build the error for ``what`` (a sentence subject) provided by ``distribution``."""
    reason = installed_but_unavailable(distribution)
    if reason is not None:
        return PluginNotInstalled(f"{what} needs the {distribution} plugin: {reason}", distribution)
    version = _installed_version(distribution)
    if version is not None:
        return PluginNotInstalled(
            f"{what} should come from {distribution} {version}, which is installed but did not "
            f"register it (is plugin autoload off, or is it missing from DORM_PLUGINS?)",
            distribution,
        )
    return PluginNotInstalled(
        f"{what} is provided by the {distribution} plugin, which is not installed: "
        f"pip install {distribution}",
        distribution,
    )


def missing(name: str) -> PluginNotInstalled | None:
    """The error for a documented plugin-provided ``dorm.<name>`` attribute, else ``None``.

    ``dorm/__init__.py`` calls it from ``__getattr__`` after looking the name up in the
    registry, so ``dorm.HStoreField`` without dorm-postgres says what to install.
    """
    dist = KNOWN_ATTRIBUTES.get(name)
    if dist is None:
        return None
    return not_installed(f"dorm.{name}", dist)


def missing_module(fullname: str) -> PluginNotInstalled | None:
    """The error for importing a documented plugin-provided module path, else ``None``."""
    dist = KNOWN_MODULES.get(fullname)
    if dist is None:
        return None
    err = not_installed(f"Module {fullname}", dist)
    err.name = fullname
    return err
