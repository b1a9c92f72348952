"""Models of the sharding suite (app label ``shardtest``)."""
import uuid

import dorm


class Order(dorm.Model):
    """Sharded by ``customer_id``; a UUID primary key, unique across shards."""

    id = dorm.UUIDField(primary_key=True, default=uuid.uuid4)
    customer_id = dorm.IntegerField()
    total = dorm.DecimalField(max_digits=10, decimal_places=2)
    qty = dorm.IntegerField(default=1)
    status = dorm.CharField(max_length=10, default="new")
    score = dorm.FloatField(null=True)
    updated = dorm.DateTimeField(auto_now=True, null=True)

    class Meta:
        app_label = "shardtest"


class OrderLine(dorm.Model):
    """Sharded with its order (same key), a foreign key on the same shard."""

    id = dorm.UUIDField(primary_key=True, default=uuid.uuid4)
    order = dorm.ForeignKey(Order, on_delete=dorm.CASCADE, related_name="lines")
    customer_id = dorm.IntegerField()
    sku = dorm.CharField(max_length=20)

    class Meta:
        app_label = "shardtest"


class Event(dorm.Model):
    """Sharded, with a per-shard auto-increment id (collides when rows move)."""

    customer_id = dorm.IntegerField()
    kind = dorm.CharField(max_length=20)

    class Meta:
        app_label = "shardtest"


class Country(dorm.Model):
    """Not sharded: lives on ``default``."""

    code = dorm.CharField(max_length=2, unique=True)
    name = dorm.CharField(max_length=50)

    class Meta:
        app_label = "shardtest"


SHARDED = [Order, OrderLine, Event]
KEY_FIELDS = {Order: "customer_id", OrderLine: "customer_id", Event: "customer_id"}
