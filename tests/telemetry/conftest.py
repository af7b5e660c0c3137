"""Fixtures for the OpenTelemetry tests: opentelemetry-sdk's in-memory span exporter and
metric reader, handed to :func:`tfso_events.telemetry.configure` (not set globally, so
no other test of the suite sees spans or trace context)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tfso_events import RetryPolicy, telemetry
from tfso_events.local import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, LocalHub
from tfso_events.publishing.api import TfsoEventApiClient


def local_api_client(hub: LocalHub, *, max_attempts: int) -> TfsoEventApiClient:
    """An events API client of ``hub`` (its ready credentials) that retries at once."""
    policy = RetryPolicy(max_attempts=max_attempts, base_delay=0.001, adaptive=False)
    return TfsoEventApiClient(
        "local",
        DEFAULT_CLIENT_ID,
        DEFAULT_CLIENT_SECRET,
        api_url=hub.url,
        auth0_domain=hub.url,
        retry=policy,
    )


@dataclass
class Otel:
    """What the library reported during a test."""

    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader
    tracer_provider: TracerProvider

    def spans(self, name_prefix: str = "") -> list[ReadableSpan]:
        """Finished spans, oldest first, optionally those whose name starts so."""
        return [s for s in self.exporter.get_finished_spans() if s.name.startswith(name_prefix)]

    def points(self, name: str) -> list[Any]:
        """The data points of the instrument ``name`` (empty when it recorded nothing)."""
        data = self.reader.get_metrics_data()
        found: list[Any] = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found.extend(metric.data.data_points)
        return found

    def total(self, name: str, **attributes: Any) -> float:
        """The sum of a counter's points whose attributes include ``attributes``."""
        return sum(
            p.value
            for p in self.points(name)
            if all(p.attributes.get(k) == v for k, v in attributes.items())
        )


@pytest.fixture
def otel() -> Iterator[Otel]:
    """An SDK tracer and meter provider with in-memory export, used by tfso-events for
    the test; the library is back on the global (no-op) providers after it."""
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    telemetry.configure(tracer_provider=tracer_provider, meter_provider=meter_provider)
    try:
        yield Otel(exporter, reader, tracer_provider)
    finally:
        telemetry.configure()
        tracer_provider.shutdown()
        meter_provider.shutdown()


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy AWS credentials and region; nothing from the shell's AWS configuration."""
    import os

    for name in list(os.environ):
        if name.startswith("AWS_") or name == "_X_AMZN_TRACE_ID":
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
