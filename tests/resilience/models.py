"""Models of the dorm-resilience suite."""
import dorm
from dorm.contrib.idempotency import IdempotencyRecord

APP = "resilience_tests"


class Request(IdempotencyRecord):
    """The idempotency table of the tests."""

    class Meta:
        app_label = APP


class StrictRequest(IdempotencyRecord):
    """A user's record model with an extra required column the claim cannot fill."""

    tenant = dorm.IntegerField()

    class Meta:
        app_label = APP


class Payment(dorm.Model):
    """A side effect written by the idempotent blocks."""

    ref = dorm.CharField(max_length=40)
    amount = dorm.IntegerField(default=0)

    class Meta:
        app_label = APP


ALL = [Request, StrictRequest, Payment]
