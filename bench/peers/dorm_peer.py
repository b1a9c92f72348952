"""dorm through its public API (``Model.objects...``), as users write it."""
from __future__ import annotations

from bench.peers.base import Peer
from bench.scenarios import (COUNT_THRESHOLD, RELATED_OWNERS, RELATED_ROWS, make_owner, make_pet,
                             make_row)


class DormPeer(Peer):
    name = "dorm"
    label = "dorm"

    def unavailable(self) -> str | None:
        try:
            import dorm

            for attr in ("configure", "create_tables", "Model", "CharField"):
                getattr(dorm, attr)
        except (ImportError, AttributeError) as exc:
            return f"dorm is not usable here: {exc}"
        return None

    def info(self) -> dict:
        import dorm

        out = {"dorm_version": getattr(dorm, "__version__", None)}
        out.update(getattr(self, "_info", {}))
        return out

    def setup(self, env, cfg) -> None:
        import dorm

        self.cfg = cfg
        dorm.configure(DATABASES=env.dorm_databases(), INSTALLED_APPS=[])

        class BenchItem(dorm.Model):
            name = dorm.CharField(max_length=100)
            value = dorm.IntegerField()
            score = dorm.FloatField()

            class Meta:
                app_label = "bench"
                db_table = "bench_item"

        class BenchOwner(dorm.Model):
            name = dorm.CharField(max_length=100)

            class Meta:
                app_label = "bench"
                db_table = "bench_owner"

        class BenchPet(dorm.Model):
            name = dorm.CharField(max_length=100)
            owner = dorm.ForeignKey(BenchOwner, on_delete=dorm.CASCADE, db_index=False)

            class Meta:
                app_label = "bench"
                db_table = "bench_pet"

        self.Item = BenchItem
        self.Pet = BenchPet
        dorm.create_tables([BenchItem, BenchOwner, BenchPet])
        BenchOwner.objects.bulk_create([BenchOwner(name=make_owner(i)) for i in range(RELATED_OWNERS)])
        BenchPet.objects.bulk_create([BenchPet(name=n, owner_id=o) for n, o in
                                      (make_pet(i) for i in range(RELATED_ROWS))])
        self._info = self._match_pragmas(env)

    def _match_pragmas(self, env) -> dict:
        """Run dorm's connection with the same durability setting as the raw peer,
        and record what dorm chose by itself."""
        info: dict = {}
        if getattr(env, "vendor", "sqlite") != "sqlite":
            return info   # server backends: settings come with the connection (env)
        try:
            from dorm.db import connections

            conn = connections["default"]
            info["default_synchronous"] = conn.execute("PRAGMA synchronous", [])[0][0]
            info["journal_mode"] = conn.execute("PRAGMA journal_mode", [])[0][0]
            for pragma in env.pragmas():
                conn.execute(pragma, [])
            info["ddl"] = conn.execute(
                "SELECT sql FROM sqlite_master WHERE name = 'bench_item'", []
            )[0][0]
        except Exception as exc:  # noqa: BLE001 - recorded, the bench still runs
            info["pragma_error"] = repr(exc)
        return info

    def teardown(self) -> None:
        loop = getattr(self, "_loop", None)
        if loop is not None:
            from dorm.db import connections

            loop.run_until_complete(connections.aclose_all())
            loop.close()
            self._loop = None

    def clear(self) -> None:
        self.Item.objects.all().delete()

    def populate(self, rows: int) -> None:
        self.clear()
        self.op_bulk_create(rows)

    def all_pks(self) -> list[int]:
        return list(self.Item.objects.values_list("pk", flat=True))

    # -- scenarios ---------------------------------------------------------------

    def op_create(self) -> None:
        create = self.Item.objects.create
        for i in range(self.cfg.ops):
            name, value, score = make_row(i)
            create(name=name, value=value, score=score)

    def op_bulk_create(self, rows: int | None = None) -> None:
        Item = self.Item
        rows = self.cfg.rows if rows is None else rows
        objs = []
        for i in range(rows):
            name, value, score = make_row(i)
            objs.append(Item(name=name, value=value, score=score))
        Item.objects.bulk_create(objs)

    def op_get(self) -> None:
        get = self.Item.objects.get
        for pk in self.cfg.pks:
            get(pk=pk)

    def op_aget(self) -> None:
        import asyncio

        loop = getattr(self, "_loop", None)
        if loop is None:
            loop = self._loop = asyncio.new_event_loop()   # kept: pools live per loop
        aget = self.Item.objects.aget

        async def run():
            for pk in self.cfg.pks:
                await aget(pk=pk)

        loop.run_until_complete(run())

    def op_count(self) -> None:
        objects = self.Item.objects
        for _ in range(self.cfg.count_ops):
            objects.filter(value__lt=COUNT_THRESHOLD).count()

    def op_list(self) -> None:
        objects = self.Item.objects
        limit = self.cfg.list_limit
        for _ in range(self.cfg.list_ops):
            list(objects.all()[:limit])

    def op_update(self) -> None:
        objects = self.Item.objects
        for n, pk in enumerate(self.cfg.pks):
            objects.filter(pk=pk).update(value=n % 1000)

    def op_select_related(self) -> None:
        qs = self.Pet.objects.select_related("owner")
        for _ in range(self.cfg.related_ops):
            list(qs.all()[:RELATED_ROWS])

    def op_values_list(self) -> None:
        list(self.Item.objects.values_list("id", "name", "value"))


PEER = DormPeer()
