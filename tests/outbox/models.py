"""Models of the dorm-outbox suite: a business table and a concrete outbox table."""
import dorm
from dorm.contrib.outbox import OutboxEvent

APP = "outbox_tests"


class Order(dorm.Model):
    number = dorm.CharField(max_length=20)

    class Meta:
        app_label = APP


class Event(OutboxEvent):
    class Meta:
        app_label = APP


ALL = [Order, Event]
