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
(the client alone), the ratios against (n), the median of each round's paired CPU ratio
(the three states run back to back, so a shared machine's drift cancels), and the CPU
the hooks themselves cost per event with the API and no SDK, measured apart from the
network (entries built through the hooks, sends that do nothing).

Run: ``.venv/bin/python -m benchmarks.bench_telemetry`` (``--events``, ``--repeats``).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence

from benchmarks.bench_eventbridge import Stub, measure, run_publish_many
from tfso_events import BatchResult, telemetry


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
    paired: dict[str, list[float]] = {name: [] for name, _state in rows}
    stub = Stub()
    try:
        for _ in range(args.repeats):
            cpus: dict[str, float] = {}
            for name, state in rows:
                state()
                rate, cpu, _stats = measure(stub, run_publish_many, args.events)
                cpus[name] = cpu
                old = best.get(name)
                best[name] = (max(rate, old[0]), min(cpu, old[1])) if old else (rate, cpu)
            for name, _state in rows:  # this round's CPU against (n) of the same round
                paired[name].append(cpus[name] / cpus[rows[0][0]])
    finally:
        telemetry.configure()
        stub.close()
    hooks = _hook_cost()

    print(f"publish_many of {args.events} events, best of {args.repeats} rounds")
    print(f"{'state':<28} {'events/s':>10} {'CPU µs/event':>13}")
    for name, _state in rows:
        rate, cpu = best[name]
        print(f"{name:<28} {rate:>10.0f} {cpu:>13.1f}")
    n_rate, n_cpu = best[rows[0][0]]
    for name, _state in rows[1:]:
        rate, cpu = best[name]
        median = statistics.median(paired[name])
        print(
            f"{name.split()[0]} / (n): events/s {rate / n_rate:.3f}x, CPU {cpu / n_cpu:.3f}x "
            f"(best runs); CPU {median:.3f}x (median of the rounds' paired ratios)"
        )
    plain, hooked = hooks
    print(
        f"entries built and sent to a no-op transport, CPU µs per event: {plain:.2f} without "
        f"the hooks, {hooked:.2f} with them (API, no SDK): {hooked - plain:+.2f} µs "
        f"= {(hooked - plain) / n_cpu:+.2%} of (n)'s CPU per event"
    )


def _hook_cost(events: int = 1000, repeats: int = 200) -> tuple[float, float]:
    """CPU µs per event that the telemetry hooks add with the API and no SDK: building
    the entries through a publication plus one traced send per 10 entries (a send that
    does nothing), minus the same without the hooks."""
    import asyncio

    from benchmarks._events import make_events
    from tfso_events import TfsoEventBridgeClient

    batch = make_events(events)
    telemetry.configure()

    async def run(hooked: bool) -> float:
        client = TfsoEventBridgeClient("dev")

        async def send(entries: object) -> list[object]:
            return []

        traced = telemetry.traced_send(send, telemetry.EVENTBRIDGE_SYSTEM, "PutEvents", str)
        call = traced if hooked else send
        entries = []
        started = time.process_time()
        for _ in range(repeats // 10):
            observed = (
                telemetry.publication(telemetry.EVENTBRIDGE_SYSTEM, telemetry.log)
                if hooked
                else None
            )
            entries = [client._entry(i, e, None, observed) for i, e in enumerate(batch)]
            for at in range(0, len(entries), 10):
                await call(entries[at : at + 10])
            if observed is not None:
                observed.finished(BatchResult.of(()))
        return (time.process_time() - started) / (repeats // 10 * events) * 1e6

    async def both() -> tuple[float, float]:
        await run(True)  # warm-up
        plain = min([await run(False) for _ in range(3)])
        hooked = min([await run(True) for _ in range(3)])
        return plain, hooked

    return asyncio.run(both())


if __name__ == "__main__":
    main()
