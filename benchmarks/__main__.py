"""Run every benchmark in turn: ``python -m benchmarks`` (what ``make bench`` does).

Each prints its own table of figures and ratios; see each module's docstring for what it
measures and docs/performance.md for the recorded figures. The 100k-example fuzz run is
separate (``python -m benchmarks.bench_fuzz``): it checks robustness, not speed.
"""

from __future__ import annotations

from benchmarks import (
    bench_api,
    bench_cold_start,
    bench_consume,
    bench_eventbridge,
    bench_inbox,
    bench_models,
    bench_outbox,
    bench_patterns,
    bench_pool,
    bench_scale,
    bench_throttling,
)


def main() -> None:
    for name, run in (
        ("bench_models", bench_models.main),
        ("bench_eventbridge", bench_eventbridge.main),
        ("bench_pool", bench_pool.main),
        ("bench_api", bench_api.main),
        ("bench_scale", bench_scale.main),
        ("bench_throttling", bench_throttling.main),
        ("bench_consume", bench_consume.main),
        ("bench_cold_start", bench_cold_start.main),
        ("bench_patterns", bench_patterns.main),
        ("bench_outbox", bench_outbox.main),
        ("bench_inbox", bench_inbox.main),
    ):
        print(f"\n==== {name} ====\n", flush=True)
        run()


if __name__ == "__main__":
    main()
