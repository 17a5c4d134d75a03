"""OpenTelemetry tracing and structured JSON logs carrying trace ids.

Exporters follow the standard OTEL_* variables: OTLP when OTEL_EXPORTER_OTLP_ENDPOINT (or
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set or OTEL_TRACES_EXPORTER=otlp, the console with
OTEL_TRACES_EXPORTER=console, nothing by default. Spans exist either way, so log lines carry
trace ids that a caller's propagated traceparent links to.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, trace and span ids, error."""

    def format(self, record: logging.LogRecord) -> str:
        """Renders the record as a JSON line."""
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            entry["trace_id"] = f"{span_context.trace_id:032x}"
            entry["span_id"] = f"{span_context.span_id:016x}"
        for key in ("listen", "database", "event"):
            value = record.__dict__.get(key)
            if value is not None:
                entry[key] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(level: str) -> None:
    """Sends JSON log lines to stdout at the given level."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # pgserver narrates every command it runs at INFO.
    logging.getLogger("pgserver").setLevel(logging.WARNING)


def setup_tracing(env: Mapping[str, str]) -> TracerProvider:
    """Installs the global tracer provider with the exporter the OTEL_* variables ask for."""
    attributes = {} if env.get("OTEL_SERVICE_NAME") else {"service.name": "emailstore"}
    exporter_name = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    exporting = exporter_name in ("console", "otlp") or (endpoint and exporter_name != "none")
    # With nowhere to send spans, none is recorded (OTEL_TRACES_SAMPLER still decides when
    # set): a dropped span costs a fraction of a recorded one, and still has the trace id
    # that log lines carry and outgoing context propagates.
    sampler = None if exporting or env.get("OTEL_TRACES_SAMPLER") else ALWAYS_OFF
    provider = TracerProvider(resource=Resource.create(attributes), sampler=sampler)
    if exporter_name == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    elif exporter_name == "otlp" or (endpoint and exporter_name != "none"):
        # Imported only when used: the gRPC OTLP exporter reads its own OTEL_EXPORTER_OTLP_*.
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider
