"""What OpenTelemetry costs ``publish_many``: without the API, with the API alone, with an SDK.

``TfsoEventBridgeClient.publish_many`` of realistic events against the loopback PutEvents
stub in its own process (``benchmarks/_stub_putevents.py``, as ``bench_eventbridge``),
in three states of ``tfso_events.telemetry``, interleaved in every round:

(n) **no API**: the state where ``opentelemetry-api`` is not installed (the module's
    cached answer set to "not importable"): every hook is a no-op, the transport's send
    is not wrapped;
(i) **API, no SDK**: ``opentelemetry-api`` installed and no tracer or meter provider
    configured, what a service that installs the extra but exports nothing gets;
    the target is (i) within 3% of (n);
(s) **SDK**: opentelemetry-sdk's ``TracerProvider`` (a ``BatchSpanProcessor`` into an
    exporter that drops the spans) and ``MeterProvider`` (an in-memory reader): a
    create span per event, a send span per call, metrics and the trace context written
    into every event; for scale, not a target.

Figures: events/s (best of ``--repeats`` rounds) and CPU µs per event of this process
(the client alone), and the ratios against (n).

Run: ``.venv/bin/python -m benchmarks.bench_telemetry`` (``--events``, ``--repeats``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from benchmarks.bench_eventbridge import Stub, measure, run_publish_many
from tfso_events import telemetry


def _no_api() -> None:
    telemetry.configure()
    telemetry._otel = None  # what _get() caches when `import opentelemetry` fails


def _api_only() -> None:
    telemetry.configure()


def _sdk() -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    class Drop(SpanExporter):
        def export(self, spans: object) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(Drop()))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    telemetry.configure(tracer_provider=tracer_provider, meter_provider=meter_provider)


def main(argv: Sequence[str] | None = None) -> None:
    """Run publish_many in the three states against one stub; print figures and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000, help="events per run")
    parser.add_argument("--repeats", type=int, default=5, help="rounds; the best run counts")
    args = parser.parse_args(argv)

    rows: list[tuple[str, Callable[[], None]]] = [
        ("(n) no opentelemetry-api", _no_api),
        ("(i) API, no SDK", _api_only),
        ("(s) SDK, spans + metrics", _sdk),
    ]
    best: dict[str, tuple[float, float]] = {}
    stub = Stub()
    try:
        for _ in range(args.repeats):
            for name, state in rows:
                state()
                rate, cpu, _stats = measure(stub, run_publish_many, args.events)
                old = best.get(name)
                best[name] = (max(rate, old[0]), min(cpu, old[1])) if old else (rate, cpu)
    finally:
        telemetry.configure()
        stub.close()

    print(f"publish_many of {args.events} events, best of {args.repeats} rounds")
    print(f"{'state':<28} {'events/s':>10} {'CPU µs/event':>13}")
    for name, _state in rows:
        rate, cpu = best[name]
        print(f"{name:<28} {rate:>10.0f} {cpu:>13.1f}")
    n_rate, n_cpu = best[rows[0][0]]
    for name, _state in rows[1:]:
        rate, cpu = best[name]
        print(f"{name.split()[0]} / (n): events/s {rate / n_rate:.3f}x, CPU {cpu / n_cpu:.3f}x")


if __name__ == "__main__":
    main()
