"""The data commands through the real ``dorm`` CLI (click's runner, in process) on
every installed backend: ``sql``, ``dbcheck``, ``dumpdata``, ``loaddata``, ``flush`` and
``migrate --run-syncdb``. Models: ``tests/kernel/clidata/models.py``."""
from __future__ import annotations

import datetime
import decimal
import json
import uuid
from pathlib import Path

import dorm
import pytest
from click.testing import CliRunner
from dorm.cli import build_cli
from dorm.db import connections

from .clidata.models import MODELS, Author, Book, Tag

APP = "tests.kernel.clidata"


@pytest.fixture
def cli_db(backend, backend_settings, tmp_path):
    """``default`` on the backend under test with the clidata tables, INSTALLED_APPS =
    [clidata]; embedded databases get a fresh file."""
    entry = dict(backend_settings)
    name = str(entry.get("NAME") or "")
    if name.endswith((".db", ".sqlite3", ".duckdb")):
        entry["NAME"] = str(tmp_path / f"cli{Path(name).suffix}")
    with dorm.settings.override(DATABASES={"default": entry}, INSTALLED_APPS=[APP]):
        try:
            dorm.drop_tables(MODELS)
            dorm.create_tables(MODELS)
            yield connections["default"]
        finally:
            try:
                _drop_extra(connections["default"])
                dorm.drop_tables(MODELS)
            finally:
                connections.close_all()


def _drop_extra(conn) -> None:
    for table in ("clidata_outside", "dorm_migrations"):
        if conn.introspection.table_exists(table):
            conn.execute_script(f"DROP TABLE {conn.ops.quote_name(table)}")


def run(*args, expect: int = 0, input: str | None = None):
    result = CliRunner().invoke(build_cli(), [str(a) for a in args], input=input,
                                catch_exceptions=False)
    assert result.exit_code == expect, (
        f"dorm {' '.join(map(str, args))} exited {result.exit_code}, expected {expect}\n"
        f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}")
    return result


# ---- data --------------------------------------------------------------------------------
def populate():
    """Rows with every value type, NULLs, self/forward/cyclic references and M2M."""
    ann = Author.objects.create(name="Ann", born=datetime.date(1970, 1, 2))
    bob = Author.objects.create(name="Bob «b»", mentor=ann)
    cid = Author.objects.create(name="Cid", mentor=bob)
    t1 = Tag.objects.create(label="poetry")
    t2 = Tag.objects.create(label="prose")
    t3 = Tag.objects.create(label="essays")
    b1 = Book.objects.create(
        title="Été", author=ann, editor=bob, price=decimal.Decimal("12345.67"),
        published=datetime.datetime(2024, 2, 29, 23, 59, 58, 123456), at=datetime.time(7, 8, 9),
        took=datetime.timedelta(days=2, seconds=5, microseconds=7),
        meta={"tags": ["a", "ü"], "n": 1.5, "nested": {"x": None, "ok": True}},
        ref=uuid.UUID("12345678-1234-5678-1234-567812345678"), blob=b"\x00\xffdata",
        ok=False, ratio=0.25)
    b2 = Book.objects.create(title="Second", author=cid, price=decimal.Decimal("-3.50"),
                             meta=[1, 2, 3])
    b3 = Book.objects.create(title="Third", author=bob, editor=None, price=decimal.Decimal("0.10"))
    b1.tags.add(t1, t2)
    b2.tags.add(t3)
    cid.favorite = b2
    cid.save()
    ann.favorite = b1
    ann.save()
    return {"authors": [ann, bob, cid], "tags": [t1, t2, t3], "books": [b1, b2, b3]}


def snapshot():
    """Every row of every clidata table (junction rows as (book, tag) pairs)."""
    out = {}
    for model in MODELS:
        names = [f.attname for f in model._meta.concrete_fields]
        out[model._meta.label] = list(model.objects.order_by("pk").values_list(*names))
    through = Book._meta.get_field("tags").remote_field.through
    out["tags"] = sorted((str(b), str(t)) for b, t in through.objects.values_list("book_id", "tag_id"))
    return out


def counts():
    return [m.objects.count() for m in MODELS]


# ---- sql ---------------------------------------------------------------------------------
def test_sql_prints_create_table_for_models(cli_db):
    out = run("sql", "Book").stdout
    assert "-- clidata.Book" in out
    assert "CREATE TABLE" in out and "clidata_book" in out and "clidata_book_tags" in out
    assert "clidata_author\" (" not in out.split("-- clidata.Book")[0]
    one = run("sql", "clidata.Tag", "--database", "default").stdout
    assert "clidata_tag" in one and "clidata_book" not in one


def test_sql_all_recreates_the_schema(cli_db):
    statements = run("sql", "--all").stdout
    assert statements.index("-- clidata.Author") < statements.index("-- clidata.Book")
    dorm.drop_tables(MODELS)
    script = "\n".join(line for line in statements.splitlines() if not line.startswith("--"))
    cli_db.execute_script(script)
    run("dbcheck")
    populate()
    assert counts() == [3, 3, 3]


def test_sql_errors(cli_db):
    result = run("sql", "Nope", expect=1)
    assert "unknown app or model 'Nope'" in result.stderr
    assert "clidata.Author, clidata.Book, clidata.Tag" in result.stderr
    assert "pass --all" in run("sql", expect=2).stderr
    assert "unknown database alias 'other'" in run("sql", "--all", "--database", "other", expect=2).stderr


# ---- dbcheck -----------------------------------------------------------------------------
def test_dbcheck_clean_and_drift(cli_db):
    assert "OK" in run("dbcheck").stdout
    assert "OK" in run("dbcheck", "clidata").stdout
    cli_db.execute_script(f"ALTER TABLE {cli_db.ops.quote_name('clidata_tag')} ADD COLUMN extra INTEGER")
    result = run("dbcheck", expect=1)
    assert "[extra_column] column clidata_tag.extra is not in clidata.Tag" in result.stdout
    data = json.loads(run("dbcheck", "--json", expect=1).stdout)
    assert data["drift"] is True and [f["kind"] for f in data["findings"]] == ["extra_column"]
    assert "no installed app 'nope'" in run("dbcheck", "nope", expect=2).stderr


def test_dbcheck_missing_table(cli_db):
    dorm.drop_tables([Tag])
    result = run("dbcheck", expect=1)
    assert "[missing_table] table clidata_tag of clidata.Tag does not exist" in result.stdout


# ---- dumpdata ----------------------------------------------------------------------------
def test_dumpdata_format(cli_db):
    data = populate()
    result = run("dumpdata", "clidata")
    objects = json.loads(result.stdout)
    assert [o["model"] for o in objects] == ["clidata.Author"] * 3 + ["clidata.Book"] * 3 + ["clidata.Tag"] * 3
    ann, bob, cid = data["authors"]
    b1 = next(o for o in objects if o["model"] == "clidata.Book" and o["pk"] == data["books"][0].pk)
    assert b1["fields"]["author"] == ann.pk and b1["fields"]["editor"] == bob.pk
    assert b1["fields"]["price"] == "12345.67"
    assert b1["fields"]["published"] == "2024-02-29T23:59:58.123456"
    assert b1["fields"]["at"] == "07:08:09"
    assert b1["fields"]["ref"] == "12345678-1234-5678-1234-567812345678"
    assert b1["fields"]["meta"] == {"tags": ["a", "ü"], "n": 1.5, "nested": {"x": None, "ok": True}}
    assert b1["fields"]["tags"] == sorted(str(t.pk) for t in data["tags"][:2])
    assert "id" not in b1["fields"]
    assert objects[0] == {"model": "clidata.Author", "pk": ann.pk,
                          "fields": {"name": "Ann", "born": "1970-01-02", "mentor": None,
                                     "favorite": data["books"][0].pk}}
    assert "dumpdata clidata.Book: 3 rows" in result.stderr


def test_dumpdata_targets_exclude_and_errors(cli_db):
    populate()
    tags = json.loads(run("dumpdata", "clidata.Tag").stdout)
    assert {o["model"] for o in tags} == {"clidata.Tag"}
    both = json.loads(run("dumpdata", "Book", "Author", "-v", "0").stdout)
    assert [o["model"] for o in both][:3] == ["clidata.Author"] * 3   # referenced models first
    assert {o["model"] for o in json.loads(run("dumpdata", "-e", "clidata.Book").stdout)} == {
        "clidata.Author", "clidata.Tag"}
    result = run("dumpdata", "clidata.Nope", expect=1)
    assert "unknown app or model 'clidata.Nope'" in result.stderr and "clidata.Tag" in result.stderr
    assert result.stdout == ""


def test_dumpdata_empty_and_indent(cli_db):
    assert run("dumpdata", "-v", "0").stdout == "[]\n"
    Tag.objects.create(label="x")
    compact = run("dumpdata", "Tag", "-v", "0").stdout
    pretty = run("dumpdata", "Tag", "--indent", "2", "-v", "0").stdout
    assert json.loads(compact) == json.loads(pretty)
    assert pretty == json.dumps(json.loads(compact), indent=2, ensure_ascii=False) + "\n"
    assert compact == json.dumps(json.loads(compact), ensure_ascii=False) + "\n"


def test_dumpdata_pages_by_primary_key(cli_db):
    """Small pages give the same bytes; the dump reads page by page (a row added past
    the current page while streaming is seen: nothing was read ahead)."""
    populate()
    for i in range(7):
        Tag.objects.create(label=f"t{i}")
    assert run("dumpdata", "--chunk-size", "2", "-v", "0").stdout == run("dumpdata", "-v", "0").stdout
    from dorm.cli.dumpdata import iter_objects

    stream = iter_objects(Author, "default", chunk_size=2)
    first = next(stream)
    late = Author.objects.create(name="Late")
    rest = list(stream)
    assert [first["pk"], *(o["pk"] for o in rest)] == sorted(Author.objects.values_list("pk", flat=True))
    assert rest[-1]["pk"] == late.pk


def test_dumpdata_output_file_is_replaced_only_on_success(cli_db, tmp_path):
    populate()
    target = tmp_path / "dump.json"
    target.write_text("old")
    run("dumpdata", "clidata.Nope", "-o", target, expect=1)
    assert target.read_text() == "old"
    result = run("dumpdata", "-o", target)
    assert result.stdout == ""
    assert len(json.loads(target.read_text())) == 9
    assert "Wrote 9 object(s) of 3 model(s)" in result.stderr
    assert not list(tmp_path.glob(".*.tmp"))


# ---- round trip --------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_round_trip_dumpdata_flush_loaddata(cli_db, tmp_path, suffix):
    populate()
    before = snapshot()
    path = tmp_path / f"all{suffix}"
    run("dumpdata", "clidata", "-o", path, "--indent", "2")
    if suffix == ".jsonl":
        lines = path.read_text().splitlines()
        assert len(lines) == 9 and all(json.loads(line)["model"] for line in lines)
    run("flush", "--noinput")
    assert counts() == [0, 0, 0]
    result = run("loaddata", path)
    assert "Installed 9 object(s) from 1 fixture(s)" in result.stdout
    assert "loaddata " + path.name in result.stderr
    assert snapshot() == before
    assert run("dumpdata", "clidata", "--indent", "2", "-v", "0").stdout == \
        run("dumpdata", "clidata", "--indent", "2", "-v", "0").stdout
    again = tmp_path / f"again{suffix}"
    run("dumpdata", "clidata", "-o", again, "--indent", "2", "-v", "0")
    assert again.read_text() == path.read_text()
    # sequences follow the loaded keys
    top = max(a.pk for a in Author.objects.all())
    assert Author.objects.create(name="next").pk > top


def test_flush_restarts_sequences_where_the_backend_can(cli_db):
    populate()
    run("flush", "--noinput", "-v", "0")
    fresh = Author.objects.create(name="first")
    if cli_db.ops.sequence_reset_sql("clidata_author", "id"):
        assert fresh.pk == 1
    else:
        assert fresh.pk > 3   # the database keeps its sequence (e.g. DuckDB)


def test_loaddata_forward_references_in_any_order(cli_db, tmp_path):
    populate()
    before = snapshot()
    objects = json.loads(run("dumpdata", "-v", "0").stdout)
    run("flush", "--noinput", "-v", "0")
    reversed_file = tmp_path / "reversed.json"
    reversed_file.write_text(json.dumps(objects[::-1]))   # tags/books first, children first
    run("loaddata", reversed_file, "-v", "0")
    assert snapshot() == before


def test_loaddata_updates_existing_rows_and_replaces_m2m(cli_db, tmp_path):
    data = populate()
    objects = json.loads(run("dumpdata", "-v", "0").stdout)
    b1 = next(o for o in objects if o["model"] == "clidata.Book" and o["pk"] == data["books"][0].pk)
    b1["fields"]["title"] = "Changed"
    b1["fields"]["tags"] = [str(data["tags"][2].pk)]
    path = tmp_path / "update.json"
    path.write_text(json.dumps(objects))
    run("loaddata", path, "-v", "0")
    run("loaddata", path, "-v", "0")
    assert counts() == [3, 3, 3]
    book = Book.objects.get(pk=data["books"][0].pk)
    assert book.title == "Changed"
    assert [t.label for t in book.tags.all()] == ["essays"]


def test_loaddata_objects_without_pk(cli_db, tmp_path):
    path = tmp_path / "new.jsonl"
    path.write_text('{"model": "clidata.Author", "fields": {"name": "Solo"}}\n\n'
                    '{"model": "clidata.tag", "fields": {"label": "fresh"}}\n')
    assert "Installed 2 object(s)" in run("loaddata", path, "-v", "0").stdout
    assert Author.objects.get().name == "Solo"
    assert isinstance(Tag.objects.get().pk, uuid.UUID)


# ---- loaddata errors: the file is rolled back and the message names the culprit ----------
def _book(data, **fields):
    base = {"title": "x", "author": data["authors"][0].pk, "price": "1.00", "tags": []}
    base.update(fields)
    return {"model": "clidata.Book", "pk": 99, "fields": base}


BAD = {
    "dangling_fk": (lambda d: _book(d, author=4242),
                    ["objects[1]", "field 'author' refers to clidata.Author id=4242"]),
    "dangling_m2m": (lambda d: _book(d, tags=["00000000-0000-0000-0000-000000000000"]),
                     ["objects[1]", "field 'tags'", "neither in this file nor in the database"]),
    "bad_decimal": (lambda d: _book(d, price="abc"), ["objects[1]", "field 'price'", "'abc'"]),
    "bad_date": (lambda d: {"model": "clidata.Author", "pk": 50, "fields": {"name": "x", "born": "31/12/2020"}},
                 ["objects[1]", "field 'born'", "invalid date format"]),
    "null": (lambda d: _book(d, title=None), ["objects[1]", "field 'title'", "not nullable"]),
    "too_long": (lambda d: {"model": "clidata.Tag", "pk": str(uuid.uuid4()), "fields": {"label": "x" * 31}},
                 ["objects[1]", "field 'label'", "max_length=30"]),
    "unknown_model": (lambda d: {"model": "clidata.Nope", "pk": 1, "fields": {}},
                      ["objects[1]", "unknown model 'clidata.Nope'", "clidata.Author"]),
    "unknown_field": (lambda d: _book(d, colour="red"),
                      ["objects[1]", "unknown field 'colour'", "fields of clidata.Book"]),
    "missing_field": (lambda d: {"model": "clidata.Book", "pk": 98, "fields": {"title": "t", "price": "1"}},
                      ["objects[1]", "field 'author' is missing"]),
    # the database refuses it (a unique violation): found by re-running row by row
    "unique": (lambda d: {"model": "clidata.Tag", "pk": str(uuid.uuid4()), "fields": {"label": "poetry"}},
               ["objects[1]", "clidata.Tag", "the database refused it"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_loaddata_bad_object_leaves_database_unchanged(cli_db, tmp_path, case):
    data = populate()
    before = snapshot()
    make, expected = BAD[case]
    good = {"model": "clidata.Author", "pk": 77, "fields": {"name": "would be loaded"}}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([good, make(data)]))
    result = run("loaddata", path, expect=1)
    assert str(path) in result.stderr
    for text in expected:
        assert text in result.stderr, result.stderr
    assert f"nothing from {path} was loaded" in result.stderr
    assert snapshot() == before


def test_loaddata_bad_json_and_formats(cli_db, tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('[{"model": "clidata.Tag",\n "pk": }]')
    assert "invalid JSON at line 2" in run("loaddata", broken, expect=1).stderr
    lines = tmp_path / "broken.jsonl"
    lines.write_text('{"model": "clidata.Author", "pk": 1, "fields": {"name": "a"}}\n{oops\n')
    result = run("loaddata", lines, expect=1)
    assert "broken.jsonl: line 2: invalid JSON" in result.stderr
    assert Author.objects.count() == 0
    other = tmp_path / "data.yaml"
    other.write_text("- x")
    assert "unknown fixture format '.yaml'; use .json, .jsonl" in run("loaddata", other, expect=1).stderr
    assert "cannot read the fixture" in run("loaddata", tmp_path / "missing.json", expect=1).stderr
    not_list = tmp_path / "obj.json"
    not_list.write_text('{"model": "clidata.Tag"}')
    assert "expected a JSON list of objects, got dict" in run("loaddata", not_list, expect=1).stderr


def test_loaddata_files_each_in_their_own_transaction(cli_db, tmp_path):
    first = tmp_path / "a.json"
    first.write_text(json.dumps([{"model": "clidata.Author", "pk": 1, "fields": {"name": "kept"}}]))
    second = tmp_path / "b.json"
    second.write_text(json.dumps([{"model": "clidata.Author", "pk": 2, "fields": {"name": "gone"}},
                                  {"model": "clidata.Author", "pk": 3, "fields": {"mentor": 999, "name": "x"}}]))
    result = run("loaddata", first, second, expect=1)
    assert f"already loaded: {first}" in result.stderr
    assert list(Author.objects.values_list("name", flat=True)) == ["kept"]


def test_loaddata_batches_and_database_option(cli_db, tmp_path):
    for i in range(25):
        Tag.objects.create(label=f"tag{i:02}")
    path = tmp_path / "tags.json"
    run("dumpdata", "Tag", "-o", path, "--database", "default", "-v", "0")
    run("flush", "--noinput", "--alias", "default", "-v", "0")
    result = run("loaddata", path, "--batch-size", "4", "--database", "default")
    assert "Installed 25 object(s)" in result.stdout
    assert Tag.objects.count() == 25
    assert "unknown database alias 'nope'" in run("loaddata", path, "--database", "nope", expect=2).stderr


# ---- flush -------------------------------------------------------------------------------
def test_flush_asks_first(cli_db):
    populate()
    result = run("flush", input="n\n", expect=1)
    assert "Delete every row of 4 table(s) on alias 'default'" in result.stdout
    assert counts() == [3, 3, 3]
    result = run("flush", input="y\n")
    assert "Flushed 4 table(s)" in result.stdout
    assert "flush: 4 tables in" in result.stderr
    assert counts() == [0, 0, 0]


def test_flush_keeps_the_migration_recorder(cli_db):
    from dorm.migrations.recorder import MigrationRecorder

    recorder = MigrationRecorder(cli_db)
    recorder.record_applied("clidata", "0001_initial")
    populate()
    run("flush", "--noinput", "-v", "0")
    assert recorder.applied_migrations() == {("clidata", "0001_initial")}


def test_flush_refuses_when_other_tables_reference_the_apps(cli_db):
    if not cli_db.features.supports_foreign_keys:
        pytest.skip("supports_foreign_keys is False: no foreign keys to find on this alias")
    populate()
    q = cli_db.ops.quote_name
    cli_db.execute_script(f"CREATE TABLE {q('clidata_outside')} (id INTEGER PRIMARY KEY, "
                          f"author_id BIGINT REFERENCES {q('clidata_author')} ({q('id')}))")
    result = run("flush", "--noinput", expect=1)
    assert "clidata_outside -> clidata_author" in result.stderr
    assert counts() == [3, 3, 3]


# ---- migrate --run-syncdb -----------------------------------------------------------------
def test_migrate_run_syncdb_creates_tables_of_apps_without_migrations(cli_db):
    dorm.drop_tables(MODELS)
    plan = run("migrate", "--run-syncdb", "--plan").stdout
    assert "Create table clidata_author (clidata.Author)" in plan
    assert not cli_db.introspection.table_exists("clidata_author")
    dry = run("migrate", "--run-syncdb", "--dry-run").stdout
    assert "CREATE TABLE" in dry and not cli_db.introspection.table_exists("clidata_book")
    out = run("migrate", "--run-syncdb").stdout
    assert "Synchronizing apps without migrations: clidata" in out
    assert {"clidata_author", "clidata_book", "clidata_book_tags", "clidata_tag"} <= set(
        cli_db.introspection.table_names())
    assert "nothing to create" in run("migrate", "--run-syncdb").stdout
    run("dbcheck")


def test_many_rows_stream_out_and_load_in_batches(cli_db, tmp_path):
    Tag.objects.bulk_create([Tag(label=f"label-{i:05}") for i in range(5000)])
    before = snapshot()
    path = tmp_path / "tags.jsonl"
    result = run("dumpdata", "Tag", "-o", path, "--chunk-size", "700")
    assert "dumpdata clidata.Tag: 5000 rows in" in result.stderr
    assert sum(1 for _ in path.open()) == 5000
    run("flush", "--noinput", "-v", "0")
    result = run("loaddata", path, "--batch-size", "400")
    assert "loaddata tags.jsonl: 5000 objects in" in result.stderr
    assert snapshot() == before


def test_progress_lines(capsys):
    from dorm.cli._progress import Progress

    progress = Progress("dumpdata shop.Product", 50, interval=0)
    progress.update(12)
    progress.done()
    quiet = Progress("x", verbosity=0, interval=0)
    quiet.update(5)
    quiet.done()
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("dumpdata shop.Product: 12/50 rows (24%, ") and "/s, ETA " in err[0]
    assert err[1].startswith("dumpdata shop.Product: 12 rows in ")
    assert len(err) == 2 and quiet.count == 5
