"""dorm-otel: OpenTelemetry tracing for dorm.

The public API is ``dorm.contrib.otel`` (this package's ``api`` module): see
``docs/otel.md``. Importing this package imports neither OpenTelemetry nor the
model layer.
"""
