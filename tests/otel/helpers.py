"""Helpers of the dorm-otel suite."""
from __future__ import annotations

import contextlib


def db_spans(exporter):
    """The finished spans dorm made (instrumentation scope ``dorm``), in end order."""
    return [s for s in exporter.get_finished_spans()
            if s.instrumentation_scope is not None and s.instrumentation_scope.name == "dorm"]


@contextlib.contextmanager
def counted_statements():
    """Count the statements dorm runs (``post_query`` fires once per statement, ok or
    not), to compare with the number of spans."""
    from dorm.signals import post_query

    seen = []

    def receiver(sender, sql, **kwargs):
        seen.append(sql)

    post_query.connect(receiver, weak=False, dispatch_uid="tests.otel.count")
    try:
        yield seen
    finally:
        post_query.disconnect(dispatch_uid="tests.otel.count")


def children_of(spans, parent):
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]
