"""A tour of dorm on embedded SQLite. Run it with ``make demo`` (or
``python examples/app.py``; ``--db shop.db`` keeps the database file).

It configures dorm, creates the tables of the ``shop`` app (examples/shop/models.py),
inserts rows with ``create`` and ``bulk_create``, queries them with ``filter``,
``exclude``, ``order_by``, ``values``, ``Q``, ``F``, ``count`` and ``aggregate``,
updates inside ``transaction.atomic``, runs the async API under ``asyncio.run``,
uses a signal and a validator, and lists the installed plugins.
"""
from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

import dorm
from dorm import Avg, Count, F, Q, Sum, transaction
from dorm.exceptions import ValidationError
from dorm.signals import post_save, receiver

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # so that INSTALLED_APPS=["shop"] imports examples/shop
    sys.path.insert(0, str(HERE))


def section(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 60 - len(title)))


def setup(db_path: Path):
    dorm.configure(
        DATABASES={"default": {"ENGINE": "sqlite", "NAME": str(db_path)}},
        INSTALLED_APPS=["shop"],
    )
    from shop.models import Customer, Product

    dorm.create_tables([Product, Customer])
    return Product, Customer


def sync_tour(Product, Customer) -> None:
    saved = []

    @receiver(post_save, sender=Product)
    def remember(sender, instance, created, **kwargs):
        if created:
            saved.append(instance.name)

    section("insert")
    pen = Product.objects.create(name="pen", category="office", price=Decimal("1.20"),
                                 stock=120)
    print("created:", pen, "pk =", pen.pk)
    Product.objects.bulk_create([
        Product(name="pencil", category="office", price=Decimal("0.50"), stock=300),
        Product(name="notebook", category="office", price=Decimal("3.90"), stock=40),
        Product(name="mug", category="kitchen", price=Decimal("7.50"), stock=12),
        Product(name="kettle", category="kitchen", price=Decimal("24.00"), stock=0,
                active=False),
        Product(name="lamp", category="home", price=Decimal("19.99"), stock=5),
    ])
    Customer.objects.create(name="Ada", email="ada@example.com", vip=True)
    Customer.objects.create(name="Linus", email="linus@example.com")
    print("post_save receivers saw:", saved, "(bulk_create sends no signals)")
    post_save.disconnect(remember, sender=Product)

    section("query")
    print("products:", Product.objects.count())
    office = Product.objects.filter(category="office").order_by("-price")
    print("office, dearest first:", [p.name for p in office])
    print("in stock and active:",
          [p.name for p in Product.objects.filter(stock__gt=0).exclude(active=False)])
    cheap_or_kitchen = Product.objects.filter(Q(price__lt=1) | Q(category="kitchen"))
    print("cheap or kitchen:", sorted(p.name for p in cheap_or_kitchen))
    print("name contains 'pen':",
          list(Product.objects.filter(name__icontains="pen").values_list("name", flat=True)))
    print("values():", list(Product.objects.filter(category="home").values("name", "price")))
    print("first by price:", Product.objects.order_by("price").first())

    section("aggregate")
    stats = Product.objects.aggregate(n=Count("id"), total_stock=Sum("stock"),
                                      avg_price=Avg("price"))
    print("aggregate:", stats)
    print("VIP customers:", Customer.objects.filter(vip=True).count())

    section("update with F() in a transaction")
    with transaction.atomic():
        n = Product.objects.filter(category="office").update(price=F("price") * 2)
        print("repriced", n, "office products")
        Product.objects.filter(name="mug").update(stock=F("stock") - 2)
    print("mug stock now:", Product.objects.get(name="mug").stock)

    try:
        with transaction.atomic():
            Product.objects.filter(name="lamp").update(stock=0)
            raise RuntimeError("changed my mind")
    except RuntimeError:
        pass
    print("lamp stock after rolled-back block:", Product.objects.get(name="lamp").stock)

    section("validation")
    bad = Product(name="x", category="office", price=Decimal(-1), stock=1)
    try:
        bad.full_clean()
    except ValidationError as exc:
        for field, messages in sorted(exc.message_dict.items()):
            print(f"  {field}: {' '.join(messages)}")


async def async_tour(Product) -> None:
    section("async")
    stapler = await Product.objects.acreate(name="stapler", category="office",
                                            price=Decimal("6.40"), stock=9)
    got = await Product.objects.aget(pk=stapler.pk)
    print("acreate + aget:", got)
    print("acount(office):", await Product.objects.filter(category="office").acount())
    names = [p.name async for p in Product.objects.filter(price__gte=5).order_by("price")]
    print("async for, price >= 5:", names)


def show_plugins() -> None:
    section("plugins")
    from dorm.plugins import plugin_infos

    for info in plugin_infos():
        version = info.version or "-"
        print(f"  {info.name:<12} {info.distribution or '-':<14} {version:<8} "
              f"{info.source:<12} {info.status}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="SQLite file to use (default: a temporary one, removed)")
    args = parser.parse_args(argv)

    tmpdir = None
    if args.db:
        db_path = Path(args.db).resolve()
    else:
        tmpdir = Path(tempfile.mkdtemp(prefix="dorm-demo-"))
        db_path = tmpdir / "shop.db"
    try:
        print(f"dorm {dorm.__version__}, database {db_path}")
        Product, Customer = setup(db_path)
        sync_tour(Product, Customer)
        asyncio.run(async_tour(Product))
        show_plugins()
    finally:
        if tmpdir is not None:
            shutil.rmtree(tmpdir, ignore_errors=True)
    print("\ndone.")
    return 0

if __name__ == "__main__":
    raise SystemExit(main())
