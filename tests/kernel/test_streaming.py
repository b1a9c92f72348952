"""dorm.contrib.streaming: JSON / JSONL / CSV export on every backend."""
import asyncio
import collections
import csv
import dataclasses
import datetime
import decimal
import enum
import io
import json
import tracemalloc
import uuid

import pytest

import dorm
from dorm.contrib.streaming import (PII_MASK, astream_csv, astream_json, astream_jsonl,
                                    stream_bytes, stream_csv, stream_json, stream_jsonl,
                                    stream_ndjson_pretty)


class Mood(enum.Enum):
    HAPPY = "happy"
    SAD = "sad"


class Person(dorm.Model):
    name = dorm.CharField(max_length=60)
    email = dorm.CharField(max_length=60, null=True, pii=True)
    uid = dorm.UUIDField(default=uuid.uuid4)
    balance = dorm.DecimalField(max_digits=9, decimal_places=2, default="0")
    joined = dorm.DateTimeField(null=True)
    birthday = dorm.DateField(null=True)
    wake = dorm.TimeField(null=True)
    pause = dorm.DurationField(null=True)
    blob = dorm.BinaryField(null=True)
    meta = dorm.JSONField(null=True)
    mood = dorm.EnumField(Mood, null=True)
    score = dorm.FloatField(null=True)

    class Meta:
        app_label = "streaming_tests"
        ordering = ["id"]


class Order(dorm.Model):
    person = dorm.ForeignKey(Person, on_delete=dorm.CASCADE, related_name="orders")
    total = dorm.IntegerField(default=0)

    class Meta:
        app_label = "streaming_tests"
        ordering = ["id"]


class Row(dorm.Model):
    n = dorm.IntegerField()
    label = dorm.CharField(max_length=40)

    class Meta:
        app_label = "streaming_tests"


MODELS = [Person, Order, Row]

UID = uuid.UUID("12345678-1234-5678-1234-567812345678")
JOINED = datetime.datetime(2024, 5, 6, 7, 8, 9)


def join(chunks) -> bytes:
    chunks = list(chunks)
    assert all(isinstance(c, bytes) for c in chunks)
    return b"".join(chunks)


async def ajoin(agen) -> bytes:
    """A StreamingResponse-style consumer: ASGI ``send`` of each body chunk."""
    sent = []

    async def send(message):
        sent.append(message)

    async for chunk in agen:
        assert isinstance(chunk, bytes)
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})
    return b"".join(m["body"] for m in sent)


def parse_pretty(data: bytes) -> list:
    text, out, pos = data.decode(), [], 0
    decoder = json.JSONDecoder()
    while pos < len(text):
        obj, end = decoder.raw_decode(text, pos)
        out.append(obj)
        pos = end
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


@pytest.fixture
def people(db):
    p = Person.objects.create(
        name="Ann", email="ann@example.com", uid=UID, balance=decimal.Decimal("12.50"), joined=JOINED,
        birthday=datetime.date(1990, 1, 2), wake=datetime.time(6, 30), pause=datetime.timedelta(
            minutes=1, seconds=30), blob=b"\x00\xffab", meta={"tags": ["x", "y"], "n": 1},
        mood=Mood.HAPPY, score=1.5)
    Person.objects.create(name="Bob")
    Order.objects.create(person=p, total=3)
    return p


# ---- formats and types ---------------------------------------------------------------------
def test_json_special_types_encoded(people):
    data = json.loads(join(stream_json(Person.objects.all())))
    ann, bob = data
    assert ann == {
        "id": people.pk, "name": "Ann", "email": "ann@example.com",
        "uid": "12345678-1234-5678-1234-567812345678", "balance": "12.50",
        "joined": "2024-05-06T07:08:09", "birthday": "1990-01-02", "wake": "06:30:00",
        "pause": 90.0, "blob": "00ff6162", "meta": {"tags": ["x", "y"], "n": 1},
        "mood": "happy", "score": 1.5}
    assert bob["email"] is None and bob["blob"] is None and bob["mood"] is None


def test_jsonl_and_pretty_parse_back(people):
    data = join(stream_jsonl(Person.objects.values("name", "balance")))
    assert data.endswith(b"\n") and data.count(b"\n") == 2
    assert [json.loads(line) for line in data.splitlines()] == [
        {"name": "Ann", "balance": "12.50"}, {"name": "Bob", "balance": "0.00"}]
    pretty = join(stream_ndjson_pretty(Person.objects.values("name")))
    assert b'\n  "name": "Ann"\n' in pretty
    assert parse_pretty(pretty) == [{"name": "Ann"}, {"name": "Bob"}]


def test_empty_sources(db):
    assert join(stream_json(Person.objects.all())) == b"[]"
    assert join(stream_json([])) == b"[]"
    assert join(stream_jsonl([])) == b""
    assert join(stream_csv(Person.objects.none())) == b""
    assert join(stream_csv([], columns=["a", "b"])) == b"a,b\r\n"


def test_sources_of_every_shape(people):
    Pt = collections.namedtuple("Pt", "x y")

    @dataclasses.dataclass
    class DC:
        a: int
        when: datetime.date

    assert json.loads(join(stream_json(Person.objects))) == json.loads(
        join(stream_json(Person.objects.all())))
    assert json.loads(join(stream_json(Person.objects.values_list("name", "mood")))) == [
        {"name": "Ann", "mood": "happy"}, {"name": "Bob", "mood": None}]
    assert json.loads(join(stream_json(Person.objects.values_list("name", flat=True)))) == [
        {"name": "Ann"}, {"name": "Bob"}]
    assert json.loads(join(stream_json(Person.objects.values_list("name", named=True)))) == [
        {"name": "Ann"}, {"name": "Bob"}]
    rows = [(1, "a"), [2, "b"], Pt(3, 4), DC(5, datetime.date(2020, 1, 1)), 7, "s", None,
            {"k": uuid.UUID(int=1)}]
    assert json.loads(join(stream_json(rows))) == [
        {"col_0": 1, "col_1": "a"}, {"col_0": 2, "col_1": "b"}, {"x": 3, "y": 4},
        {"a": 5, "when": "2020-01-01"}, {"value": 7}, {"value": "s"}, {"value": None},
        {"k": "00000000-0000-0000-0000-000000000001"}]
    # instances: concrete columns by attname, relations not followed
    assert json.loads(join(stream_json(Order.objects.all()))) == [
        {"id": Order.objects.get().pk, "person_id": people.pk, "total": 3}]
    # deferred fields are left out, not loaded one query per row
    assert json.loads(join(stream_json(Person.objects.only("name")))) == [
        {"id": people.pk, "name": "Ann"}, {"id": people.pk + 1, "name": "Bob"}]
    # an evaluated queryset streams its cache
    qs = Person.objects.filter(name="Bob")
    list(qs)
    assert json.loads(join(stream_json(qs)))[0]["name"] == "Bob"


def test_bad_sources_and_values(db):
    for bad in ({"a": 1}, "text", b"bytes", 42):
        with pytest.raises(TypeError, match="source must be"):
            stream_json(bad)
    with pytest.raises(TypeError, match="cannot export a value of type .*object"):
        join(stream_json([{"x": object()}]))
    with pytest.raises(ValueError, match="Out of range float"):
        join(stream_jsonl([{"x": float("nan")}]))
    with pytest.raises(ValueError, match="chunk_size must be a positive integer"):
        stream_json([], chunk_size=0)
    with pytest.raises(TypeError, match="on_progress must be a callable"):
        stream_json([], on_progress=5)

    async def agen():
        yield {"a": 1}
    with pytest.raises(TypeError, match="use the astream_\\* variant"):
        stream_json(agen())


# ---- CSV ---------------------------------------------------------------------------------------
def read_csv(data: bytes, **kw) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), **kw))


def test_csv_rfc4180_header_missing_and_extra_keys(people):
    data = join(stream_csv(Person.objects.values("name", "email", "meta", "pause", "joined")))
    assert data.startswith(b"name,email,meta,pause,joined\r\n")
    rows = read_csv(data)
    assert rows[1][:2] == ["Ann", "ann@example.com"]
    assert rows[1][3:] == ["90.0", "2024-05-06T07:08:09"]
    assert json.loads(rows[1][2]) == {"tags": ["x", "y"], "n": 1}   # compact JSON cell
    assert " " not in rows[1][2]
    assert rows[2] == ["Bob", "", "", "", ""]
    rows = read_csv(join(stream_csv([{"a": 1, "b": True, "zzz": 9}, {"b": None, "a": 'q"u,o\nte'}],
                                    columns=["a", "b", "c"])))
    assert rows == [["a", "b", "c"], ["1", "true", ""], ['q"u,o\nte', "", ""]]


def test_csv_formula_injection_neutralised(db):
    evil = ["=HYPERLINK(\"http://x\")", "+1+2", "-2+3", "@SUM(A1)", "\tTAB", "\rCR", " =1+1",
            "\uff1d1+1", "plain", "-12.5", "+33", "1e5"]
    rows = [{"v": v, "n": -5} for v in evil] + [{"v": {"=k": "x"}, "n": decimal.Decimal("-1")}]
    out = read_csv(join(stream_csv(rows)))
    cells = [r[0] for r in out[1:]]
    assert cells[:8] == ["'" + v for v in evil[:8]]
    assert cells[8:12] == ["plain", "-12.5", "+33", "1e5"]        # numbers are not formulas
    assert cells[12] == '{"=k":"x"}'
    assert {r[1] for r in out[1:]} == {"-5", "-1"}               # numeric cells untouched
    header = read_csv(join(stream_csv([{"=cmd|' /C calc'!A0": 1}])))[0]
    assert header == ["'=cmd|' /C calc'!A0"]
    unsafe = read_csv(join(stream_csv([{"v": "=1+1"}], csv_safe=False)))
    assert unsafe[1] == ["=1+1"]


def test_csv_dialect_delimiter_bom(people):
    qs = Person.objects.values("name", "balance")
    tabbed = join(stream_csv(qs, dialect="excel-tab"))
    assert read_csv(tabbed, dialect="excel-tab")[1] == ["Ann", "12.50"]
    semi = join(stream_csv(qs, delimiter=";"))
    assert semi.startswith(b"name;balance\r\n")
    unix = join(stream_csv(qs, dialect="unix"))
    assert unix.startswith(b'"name","balance"\n')
    assert join(stream_csv(qs, bom=True)).startswith(b"\xef\xbb\xbfname,balance")
    assert join(stream_csv([], columns=["a"], bom=True)) == b"\xef\xbb\xbfa\r\n"
    with pytest.raises(ValueError, match="unknown dialect 'excell'; registered dialects: excel"):
        stream_csv(qs, dialect="excell")
    with pytest.raises(ValueError, match="delimiter must be a single character"):
        stream_csv(qs, delimiter=";;")
    with pytest.raises(TypeError, match="columns must be a list"):
        stream_csv(qs, columns="name")


# ---- PII, progress ---------------------------------------------------------------------------------
def test_mask_pii(people):
    got = json.loads(join(stream_json(Person.objects.all(), mask_pii=True)))
    assert got[0]["email"] == PII_MASK and got[0]["name"] == "Ann"
    assert got[1]["email"] is None                       # nothing to hide
    assert json.loads(join(stream_json(Person.objects.values("name", "email"), mask_pii=True))) == [
        {"name": "Ann", "email": PII_MASK}, {"name": "Bob", "email": None}]
    assert json.loads(join(stream_jsonl(Order.objects.values("total", "person__email"),
                                        mask_pii=True))) == {"total": 3, "person__email": PII_MASK}
    assert read_csv(join(stream_csv(Person.objects.values_list("email", flat=True),
                                    mask_pii=True)))[1] == [PII_MASK]
    # plain dicts carry no model: not masked
    assert json.loads(join(stream_json([{"email": "x@y"}], mask_pii=True))) == [{"email": "x@y"}]
    assert json.loads(join(stream_json(Person.objects.all())))[0]["email"] == "ann@example.com"


def test_on_progress(db):
    calls = []
    out = join(stream_jsonl(({"i": i} for i in range(2500)), chunk_size=1000,
                            on_progress=calls.append))
    assert calls == [1000, 2000, 2500] and out.count(b"\n") == 2500
    calls.clear()
    join(stream_json([{"i": 1}, {"i": 2}], chunk_size=2, on_progress=calls.append))
    assert calls == [2]
    calls.clear()
    join(stream_csv([], on_progress=calls.append))
    assert calls == [0]


def test_stream_bytes():
    assert list(stream_bytes(["a", b"b", "", bytearray(b"c"), "é"])) == [b"a", b"b", b"c",
                                                                           "é".encode()]
    with pytest.raises(TypeError, match="items must be str or bytes, got int"):
        list(stream_bytes([1]))
    with pytest.raises(TypeError, match="not a single str"):
        stream_bytes("abc")


# ---- big: bounded memory --------------------------------------------------------------------------
N_BIG = 100_000


def _fill_rows(conn, n):
    q = conn.ops.quote_name
    table = q(Row._meta.db_table)
    conn.execute_write(
        f"INSERT INTO {table} ({q('n')}, {q('label')}) "
        f"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {int(n)}) "
        "SELECT x, 'row number ' || CAST(x AS VARCHAR(12)) FROM c")
    assert Row.objects.count() == n


def test_100k_rows_stream_with_bounded_memory(db):
    _fill_rows(db, N_BIG)
    server_side = db.vendor == "postgresql"
    tracemalloc.start()
    try:
        size = lines = 0
        cursors = None
        last = b""
        for i, chunk in enumerate(stream_jsonl(Row.objects.order_by("n"), chunk_size=500)):
            size += len(chunk)
            lines += chunk.count(b"\n")
            last = chunk
            if i == 3 and server_side:
                # PostgreSQL: the rows come through a server-side cursor of this connection
                cursors = db.connection.execute("SELECT name FROM pg_cursors").fetchall()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert lines == N_BIG
    assert json.loads(last.splitlines()[-1]) == {"id": N_BIG, "n": N_BIG,
                                                 "label": f"row number {N_BIG}"}
    assert size > 4_000_000
    # the whole output (and the 100k hydrated rows) would be far more than this
    # bounded by chunk_size, not by the 100k rows: hydrating them all would take ~20 MB,
    # the output alone is ~5 MB; one chunk of 500 rows stays around 0.5 MB
    assert peak < min(size / 3, 1_500_000), (peak, size)
    if server_side:
        assert cursors and cursors[0][0].startswith("dorm_ss_")


async def test_100k_rows_async_stream_bounded(db):
    _fill_rows(db, N_BIG)
    tracemalloc.start()
    try:
        size = lines = 0
        async for chunk in astream_csv(Row.objects.order_by("n"), chunk_size=500):
            size += len(chunk)
            lines += chunk.count(b"\n")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert lines == N_BIG + 1            # header
    assert peak < 1_500_000, (peak, size)


# ---- async variants ---------------------------------------------------------------------------------
async def test_async_variants(db):
    p = await Person.objects.acreate(name="=Ann", email="a@b", uid=UID, joined=JOINED,
                                     pause=datetime.timedelta(seconds=2), mood=Mood.SAD)
    data = json.loads(await ajoin(astream_json(Person.objects.all(), mask_pii=True)))
    assert data == [{"id": p.pk, "name": "=Ann", "email": PII_MASK,
                     "uid": "12345678-1234-5678-1234-567812345678", "balance": "0.00",
                     "joined": "2024-05-06T07:08:09", "birthday": None, "wake": None,
                     "pause": 2.0, "blob": None, "meta": None, "mood": "sad", "score": None}]
    assert await ajoin(astream_json(Person.objects.none())) == b"[]"
    rows = read_csv(await ajoin(astream_csv(Person.objects.values("name", "mood"))))
    assert rows == [["name", "mood"], ["'=Ann", "sad"]]

    async def source():
        for i in range(5):
            await asyncio.sleep(0)
            yield {"i": i, "d": decimal.Decimal(i)}

    calls = []
    lines = (await ajoin(astream_jsonl(source(), chunk_size=2, on_progress=calls.append))).splitlines()
    assert [json.loads(x) for x in lines] == [{"i": i, "d": str(i)} for i in range(5)]
    assert calls == [2, 4, 5]
    assert json.loads(await ajoin(astream_json([1, 2]))) == [{"value": 1}, {"value": 2}]
    assert await ajoin(astream_csv([], columns=["x"])) == b"x\r\n"
