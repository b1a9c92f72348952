"""SpatiaLite: loading the extension, the geometry codec, and the DDL of geometry columns.

Loading
    ``load_spatialite(raw)`` loads ``mod_spatialite`` into a ``sqlite3.Connection``.
    Python builds whose ``sqlite3`` lacks ``enable_load_extension`` (compiled without
    ``--enable-loadable-sqlite-extensions``, as pyenv builds usually are) still link the
    system SQLite library: there the extension is loaded through that library's own C
    API (``sqlite3_enable_load_extension`` + ``sqlite3_load_extension``, via ctypes on
    the ``_sqlite3`` module's handle), on CPython 3.11-3.14 only, whose connection
    object starts with the ``sqlite3 *`` handle. ``SPATIALITE_LIBRARY_PATH`` (setting or
    environment variable) names another library file.

    shapely is imported *before* the extension: SpatiaLite links the system GEOS and
    SQLite loads extensions with ``RTLD_GLOBAL``, so a shapely imported afterwards would
    bind some of its GEOS symbols to the system GEOS instead of its own.

Codec
    SpatiaLite stores geometries in its own BLOB format, and its geometry columns only
    accept that format. Values are converted by SpatiaLite itself, on a private
    in-memory connection per thread: ``GeomFromWKB(iso_wkb, srid)`` to store,
    ``AsEWKB(blob)`` to read (then shapely). No hand-written binary format.

DDL
    A geometry column is declared with its geometry type (``"geom" POINT NOT NULL``) and
    registered with ``RecoverGeometryColumn`` (type/SRID/dimension triggers,
    ``geometry_columns`` row); ``spatial_index=True`` adds ``CreateSpatialIndex`` (an
    R*Tree ``idx_<table>_<column>``). Before the column or its table goes away the index
    and registration are removed (``DisableSpatialIndex``, ``DROP TABLE idx_...``,
    ``DiscardGeometryColumn``). The spatial metadata tables are created on first use
    with ``InitSpatialMetadata`` (every EPSG SRID, so ``Transform`` works).
"""
from __future__ import annotations

import ctypes
import os
import sqlite3
import sys
import threading

from dorm.exceptions import DatabaseError, NotSupportedError

DEFAULT_LIBRARY = "mod_spatialite"
INSTALL_HINT = ("install SpatiaLite (Debian/Ubuntu: apt-get install libsqlite3-mod-spatialite; "
                "macOS: brew install libspatialite) or set SPATIALITE_LIBRARY_PATH")

_status: dict = {}
_local = threading.local()


def library_path() -> str:
    path = os.environ.get("SPATIALITE_LIBRARY_PATH")
    try:
        from dorm.conf import settings

        path = getattr(settings, "SPATIALITE_LIBRARY_PATH", None) or path
    except Exception:  # noqa: BLE001, S110 - settings not configured: environment / default
        pass
    return path or DEFAULT_LIBRARY


def _c_handle(raw) -> int:
    """The ``sqlite3 *`` of a CPython ``sqlite3.Connection`` (first field after the
    object header in CPython 3.11-3.14)."""
    if sys.implementation.name != "cpython" or not (3, 11) <= sys.version_info[:2] <= (3, 14):
        raise NotSupportedError(
            f"this Python's sqlite3 module cannot load extensions (no enable_load_extension) and "
            f"{sys.implementation.name} {sys.version_info[0]}.{sys.version_info[1]} is not a "
            "version whose connection layout dorm-gis knows; use a Python built with "
            "--enable-loadable-sqlite-extensions")
    if not isinstance(raw, sqlite3.Connection):
        raise TypeError(f"expected a sqlite3.Connection, got {type(raw).__name__}")
    handle = ctypes.c_void_p.from_address(id(raw) + object.__basicsize__).value
    if not handle:
        raise NotSupportedError("the sqlite3 connection is closed")
    return handle


def _capi():
    lib = _status.get("capi")
    if lib is None:
        import _sqlite3

        lib = ctypes.CDLL(_sqlite3.__file__)   # resolves to the SQLite library _sqlite3 uses
        lib.sqlite3_libversion.restype = ctypes.c_char_p
        lib.sqlite3_enable_load_extension.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.sqlite3_enable_load_extension.restype = ctypes.c_int
        lib.sqlite3_load_extension.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p,
                                               ctypes.POINTER(ctypes.c_char_p)]
        lib.sqlite3_load_extension.restype = ctypes.c_int
        lib.sqlite3_db_filename.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.sqlite3_db_filename.restype = ctypes.c_char_p
        version = lib.sqlite3_libversion().decode()
        if version != sqlite3.sqlite_version:
            raise NotSupportedError(
                f"cannot load SpatiaLite: the SQLite library found ({version}) is not the one "
                f"the sqlite3 module uses ({sqlite3.sqlite_version})")
        _status["capi"] = lib
    return lib


def _load_through_capi(raw, path: str) -> None:
    lib = _capi()
    handle = _c_handle(raw)
    expected = raw.execute("PRAGMA database_list").fetchone()[2] or ""
    found = (lib.sqlite3_db_filename(handle, b"main") or b"").decode()
    if found != expected:
        raise NotSupportedError("cannot load SpatiaLite: unexpected sqlite3 connection layout")
    if lib.sqlite3_enable_load_extension(handle, 1) != 0:
        raise NotSupportedError("cannot load SpatiaLite: extension loading is disabled in this SQLite")
    try:
        err = ctypes.c_char_p()
        rc = lib.sqlite3_load_extension(handle, path.encode(), None, ctypes.byref(err))
        if rc != 0:
            message = err.value.decode(errors="replace") if err.value else f"error code {rc}"
            raise NotSupportedError(f"cannot load SpatiaLite ({path}): {message}; {INSTALL_HINT}")
    finally:
        lib.sqlite3_enable_load_extension(handle, 0)


def load_spatialite(raw, path: str | None = None) -> str:
    """Load SpatiaLite into the ``sqlite3.Connection`` ``raw`` (idempotent per
    connection); returns the SpatiaLite version. Raises ``NotSupportedError`` saying
    why it cannot."""
    import shapely  # noqa: F401 - bind shapely's GEOS before SpatiaLite brings the system one

    try:
        return raw.execute("SELECT spatialite_version()").fetchone()[0]
    except sqlite3.OperationalError:
        pass
    path = path or library_path()
    # SpatiaLite sets a 5 s busy timeout when it loads: keep the connection's own
    busy_timeout = raw.execute("PRAGMA busy_timeout").fetchone()[0]
    try:
        if hasattr(raw, "enable_load_extension"):
            raw.enable_load_extension(True)
            try:
                raw.load_extension(path)
            except sqlite3.OperationalError as exc:
                raise NotSupportedError(
                    f"cannot load SpatiaLite ({path}): {exc}; {INSTALL_HINT}") from None
            finally:
                raw.enable_load_extension(False)
        else:
            _load_through_capi(raw, path)
    finally:
        raw.execute(f"PRAGMA busy_timeout = {int(busy_timeout)}")
    return raw.execute("SELECT spatialite_version()").fetchone()[0]


def availability() -> tuple[bool, str]:
    """``(True, version)`` when SpatiaLite can be loaded in this process, else
    ``(False, reason)``; probed once."""
    if "available" not in _status:
        try:
            _status["available"] = (True, load_spatialite(_codec_connection()))
        except (NotSupportedError, OSError, sqlite3.Error, TypeError) as exc:
            _status["available"] = (False, str(exc))
    return _status["available"]


def require(connection) -> None:
    """Raise ``NotSupportedError`` naming the backend when SpatiaLite is unusable."""
    ok, reason = availability()
    if not ok:
        raise NotSupportedError(
            f"GIS on {connection.display_name} needs the SpatiaLite extension, which cannot be "
            f"loaded here: {reason}")


# ---- codec ------------------------------------------------------------------------------------

def _codec_connection():
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        _local.conn = conn
        _local.ready = False
    return conn


def _codec():
    conn = _codec_connection()
    if not _local.ready:
        ok, reason = availability()
        if not ok:
            raise NotSupportedError(f"GIS on SQLite needs the SpatiaLite extension: {reason}")
        load_spatialite(conn)
        _local.ready = True
    return conn


def encode(shape, srid: int) -> bytes:
    """SpatiaLite BLOB of a shapely geometry."""
    import shapely

    if shape.is_empty:
        raise ValueError(f"SpatiaLite cannot store an empty geometry ({shape.geom_type} EMPTY)")
    wkb = shapely.to_wkb(shape, output_dimension=3, flavor="iso")
    blob = _codec().execute("SELECT GeomFromWKB(?, ?)", (wkb, int(srid or 0))).fetchone()[0]
    if blob is None:
        raise ValueError(f"SpatiaLite rejected the geometry {shape.wkt[:120]!r}")
    return blob


def decode(blob):
    """shapely geometry (SRID set) of a SpatiaLite BLOB."""
    import shapely

    hexed = _codec().execute("SELECT AsEWKB(?)", (blob,)).fetchone()[0]
    if hexed is None:
        raise ValueError("not a SpatiaLite geometry BLOB")
    return shapely.from_wkb(hexed)


def is_spatialite_blob(value) -> bool:
    return (len(value) >= 44 and value[0] == 0 and value[1] in (0, 1) and value[38] == 0x7C
            and value[-1] == 0xFE)


# ---- DDL ----------------------------------------------------------------------------------------

def _select_one(connection, sql, params=()):
    rows = connection.execute(sql, params)
    return rows[0][0] if rows else None


def metadata_ready(connection) -> bool:
    try:
        return bool(_select_one(connection, "SELECT CheckSpatialMetadata()"))
    except DatabaseError:
        return False


def ensure_metadata(schema_editor) -> None:
    """``InitSpatialMetadata`` once per database (inside the schema editor's transaction)."""
    connection = schema_editor.connection
    if schema_editor.collect_sql:
        schema_editor.execute("SELECT CASE WHEN CheckSpatialMetadata() = 0 "
                              "THEN InitSpatialMetadata(0) END")
        return
    if not metadata_ready(connection) and \
            _select_one(connection, "SELECT InitSpatialMetadata(0)") != 1:
        raise DatabaseError("SpatiaLite could not initialise its spatial metadata tables")


def _checked(schema_editor, what: str, sql: str, params: list) -> None:
    """Run a SpatiaLite management function that reports failure by returning 0."""
    connection = schema_editor.connection
    if schema_editor.collect_sql:
        schema_editor.execute(sql, params)
        return
    if _select_one(connection, sql, params) != 1:
        raise DatabaseError(f"SpatiaLite {what} failed for {params[0]}.{params[1]} "
                            f"(SQL: {sql} with {params!r}); see SpatiaLite's message on stderr")


def registered(connection, table: str, column: str):
    """``spatial_index_enabled`` of a registered geometry column, or ``None``."""
    if not metadata_ready(connection):
        return None
    ph = connection.ops.placeholder
    rows = connection.execute(
        "SELECT spatial_index_enabled FROM geometry_columns "
        f"WHERE f_table_name = lower({ph}) AND f_geometry_column = lower({ph})", [table, column])
    return rows[0][0] if rows else None


def create_column_ddl(schema_editor, table: str, field) -> None:
    require(schema_editor.connection)
    ph = schema_editor.connection.ops.placeholder
    ensure_metadata(schema_editor)
    # idempotent: CREATE TABLE IF NOT EXISTS may meet a registered column
    state = None if schema_editor.collect_sql else registered(schema_editor.connection, table,
                                                               field.column)
    dims = "XYZ" if field.dim == 3 else "XY"
    if state is None:
        _checked(schema_editor, "RecoverGeometryColumn",
                 f"SELECT RecoverGeometryColumn({ph}, {ph}, {ph}, {ph}, {ph})",
                 [table, field.column, field.srid, field.geom_type, dims])
    if field.spatial_index and not state:
        _checked(schema_editor, "CreateSpatialIndex", f"SELECT CreateSpatialIndex({ph}, {ph})",
                 [table, field.column])


#: SpatiaLite tables whose rows reference ``geometry_columns`` (``ON DELETE CASCADE``,
#: which does not fire while the schema editor has foreign keys switched off)
DEPENDENT_TABLES = ("geometry_columns_auth", "geometry_columns_statistics",
                    "geometry_columns_field_infos", "geometry_columns_time")


def drop_column_ddl(schema_editor, table: str, field) -> None:
    connection = schema_editor.connection
    ph = connection.ops.placeholder
    args = [table, field.column]
    index_table = schema_editor.quote_name(f"idx_{table}_{field.column}")
    if schema_editor.collect_sql:
        dependents = DEPENDENT_TABLES
    else:
        state = registered(connection, table, field.column)
        if state is None:
            return
        found = {r[0] for r in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        dependents = [t for t in DEPENDENT_TABLES if t in found]
    if schema_editor.collect_sql or state:
        schema_editor.execute(f"SELECT DisableSpatialIndex({ph}, {ph})", args)
    schema_editor.execute(f"DROP TABLE IF EXISTS {index_table}")
    for dependent in dependents:
        schema_editor.execute(f"DELETE FROM {dependent} WHERE f_table_name = lower({ph}) "
                              f"AND f_geometry_column = lower({ph})", args)
    schema_editor.execute(f"SELECT DiscardGeometryColumn({ph}, {ph})", args)

