"""dorm on DuckDB through its public API (``bulk_create``, ``values().annotate()``,
``Window``), as users write it: the contender of ``bench/duckdb_analytics.py``."""
from __future__ import annotations

from bench.peers.base import Peer
from bench.scenarios import make_row


class DormDuckDB(Peer):
    name = "dorm"
    label = "dorm (dorm-duckdb)"
    backends = ("duckdb",)

    def unavailable(self) -> str | None:
        try:
            import dorm  # noqa: F401
            import dorm_duckdb  # noqa: F401
        except ImportError as exc:
            return f"dorm-duckdb is not usable here: {exc}"
        return None

    def info(self) -> dict:
        import dorm

        return {"dorm_version": getattr(dorm, "__version__", None), **getattr(self, "_info", {})}

    def setup(self, env, cfg) -> None:
        import dorm

        self.cfg = cfg
        # no slow-query WARNINGs: a million-row statement is meant to take a while
        dorm.configure(DATABASES=env.dorm_databases(), INSTALLED_APPS=[], SLOW_QUERY_MS=None)

        class BenchItem(dorm.Model):
            name = dorm.CharField(max_length=100)
            value = dorm.IntegerField()
            score = dorm.FloatField()

            class Meta:
                app_label = "bench"
                db_table = "bench_item"

        self.Item = BenchItem
        dorm.create_tables([BenchItem])
        from dorm.db import connections

        conn = connections["default"]
        with conn.schema_editor(collect_sql=True) as editor:
            editor.create_model(BenchItem)
        self._info = {"ddl": editor.collected_sql}

    def teardown(self) -> None:
        import dorm
        from dorm.db import connections

        dorm.drop_tables([self.Item])
        connections.close_all()
        dorm.models.registry.unregister(self.Item)

    def clear(self) -> None:
        self.Item.objects.all().delete()

    def populate(self, rows: int) -> None:
        self.clear()
        self.op_ingest(rows)

    def all_pks(self) -> list[int]:
        return list(self.Item.objects.values_list("pk", flat=True))

    # -- scenarios ---------------------------------------------------------------
    def op_ingest(self, rows: int | None = None) -> None:
        Item = self.Item
        rows = self.cfg.rows if rows is None else rows
        objs = []
        for i in range(rows):
            name, value, score = make_row(i)
            objs.append(Item(name=name, value=value, score=score))
        Item.objects.bulk_create(objs)

    def op_group_by(self) -> None:
        from dorm import Avg, Count, Sum

        list(self.Item.objects.values("value")
             .annotate(n=Count("id"), total=Sum("score"), mean=Avg("score")).order_by("value"))

    def op_window(self) -> None:
        from dorm import F, Sum, Window

        list(self.Item.objects.annotate(
            running=Window(Sum("score"), partition_by=["value"], order_by=F("id").asc()))
            .order_by("-running").values_list("id", "running")[:10])

    def op_scan(self) -> None:
        list(self.Item.objects.values_list("id", "name", "value", "score"))


PEER = DormDuckDB()
