"""Soak: messages through SQS with the DynamoDB dedupe store (moto's server), consumer
processes SIGKILLed at random moments, a visibility timeout shorter than some handlers.

Every message's effect must happen (none lost, the queue drained, no DLQ to hide in), no
two runs of one message may overlap (a held key is never run twice at once), and a
message runs more than once only when the process that ran it before was killed between
its effect and the completion of its key (at least once can do no better without a
transactional effect). Held copies (failed, delivered again) and done copies (skipped)
are counted from the router's log.

By default (CI) 300 messages with 3 kills, bounded to ~30 s; ``TFSO_SOAK=full`` runs
1,000 messages with 12 kills. The figures are printed (``-s``) and recorded in
docs/reliability.md.
"""

from __future__ import annotations

import collections
import itertools
import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

from tests.consume._consumer import TIMED_OUT
from tests.consume.conftest import moto_url as moto_url  # the fixture
from tests.consume.test_dedupe_crash import (
    body,
    boto,
    config_for,
    left_in,
    lines,
    make_queue,
    make_table,
    spawn,
    wait_for,
)

FULL = os.environ.get("TFSO_SOAK", "").lower() == "full"
MESSAGES = 1_000 if FULL else 300
KILLS = 12 if FULL else 3
CONSUMERS = 3
VISIBILITY = 1  # seconds; some handlers (SLOW_SHARE) take longer
SLOW_SHARE = 0.03
SLOW = 1.5
TIMEOUT = 3  # the Lambda timeout (enforced, as Lambda does): the lease is 4 s
SEED = int(os.environ.get("TFSO_SOAK_SEED", "23"))
BOUND = 240 if FULL else 60


def test_every_message_has_its_effect_once_through_kills_and_redeliveries(
    moto_url: str, tmp_path: Path
) -> None:
    """300 messages, 3 consumer processes (10 per batch), SIGKILLs at random moments, a
    1 s visibility timeout under 1.5 s handlers: all effects happen, none overlap, and
    any repeat is explained by a kill between effect and completion."""
    rng = random.Random(SEED)
    table = make_table(moto_url, "soak")
    queue_url = make_queue(moto_url, "soak", visibility=VISIBILITY)
    config = config_for(
        tmp_path, moto_url, table, queue_url=queue_url, timeout=TIMEOUT, batch=10, cold_start=3
    )
    running = [spawn(config) for _ in range(CONSUMERS)]
    everyone = list(running)
    killed: set[int] = set()
    timed_out: set[int] = set()
    try:
        assert wait_for(lambda: len(lines(config["ready"])) >= CONSUMERS, 60)
        began = time.monotonic()
        sqs = boto("sqs", moto_url)
        names = [f"Karl{n}" for n in range(MESSAGES)]
        for start in range(0, MESSAGES, 10):
            entries = []
            for n in range(start, min(start + 10, MESSAGES)):
                slow = rng.random() < SLOW_SHARE
                metadata = {"sleep": SLOW if slow else rng.uniform(0.02, 0.15)}
                if rng.random() < 0.05:
                    metadata["fail_first"] = True
                entries.append({"Id": str(n), "MessageBody": json.dumps(body(n, **metadata))})
            sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)

        def effects_done() -> int:
            return len({effect[0] for effect in lines(config["effects"])})

        def supervise() -> None:
            """Replace a consumer whose invocation outran the timeout (it exited)."""
            for process in list(running):
                if process.poll() is not None:
                    assert process.returncode == TIMED_OUT, process.stderr
                    timed_out.add(process.pid)
                    running.remove(process)
                    running.append(spawn(config))
                    everyone.append(running[-1])

        for _ in range(KILLS):
            time.sleep(rng.uniform(0.3, 1.5))
            supervise()
            ready = {int(line[0]) for line in lines(config["ready"])}
            victim = rng.choice([p for p in running if p.pid in ready] or running)
            running.remove(victim)
            # A random moment inside a handler: just after one of the victim's starts.
            mark = time.time()
            wait_for(
                lambda: any(
                    int(pid) == victim.pid and float(at) > mark  # noqa: B023 - read at once
                    for _, pid, _, at in lines(config["starts"])
                ),
                3,
                interval=0.01,
            )
            time.sleep(rng.uniform(0, 0.05))
            victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=10)
            killed.add(victim.pid)
            replacement = spawn(config)
            running.append(replacement)
            everyone.append(replacement)
        wait_for(
            lambda: (
                supervise() is None
                and effects_done() == MESSAGES
                and left_in(moto_url, queue_url) == 0
            ),
            BOUND - (time.monotonic() - began),
            interval=0.25,
        )
        elapsed = time.monotonic() - began
    finally:
        Path(config["stop"]).touch()
        for process in everyone:
            if process.poll() is None:
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
            if process.stderr is not None:
                process.stderr.close()

    dead = killed | timed_out  # every process that died mid-invocation
    runs: dict[str, list[tuple[int, float, float]]] = collections.defaultdict(list)
    for name, pid, started, ended in lines(config["effects"]):
        runs[name].append((int(pid), float(started), float(ended)))
    log = Path(config["log"]).read_text()
    held = log.count("held by another invocation")
    done = log.count(", a duplicate (key")
    interrupted = sum(
        1
        for name, pid, _, started in lines(config["starts"])
        if int(pid) in dead and not any(abs(s - float(started)) < 1e-3 for _, s, _ in runs[name])
    )
    repeats = {name: r for name, r in runs.items() if len(r) > 1}
    print(
        f"\ndedupe soak: {MESSAGES} messages in {elapsed:.1f} s, {len(everyone)} consumer "
        f"processes, {len(killed)} SIGKILLs and {len(timed_out)} timeouts interrupting "
        f"{interrupted} handlers; "
        f"{held} copies failed as held, {done} skipped as done; effects: "
        f"{sum(len(r) for r in runs.values())} for {len(runs)} messages, lost "
        f"{MESSAGES - len(runs)}, repeats {len(repeats)} (each after a kill between effect "
        f"and completion); left in the queue {left_in(moto_url, queue_url)}"
    )
    assert sorted(runs) == sorted(names), "an effect is missing: a message was lost"
    assert left_in(moto_url, queue_url) == 0
    for name, effects in runs.items():
        effects.sort(key=lambda run: run[1])
        for (pid, _, ended), (_, started, _) in itertools.pairwise(effects):
            assert ended <= started, f"{name} ran twice at once"
            assert pid in dead, f"{name} ran again though its first runner did not die"
    assert held > 0, "no copy met a held key: the soak did not exercise it"
    assert done > 0, "no copy met a done key: the soak did not exercise it"
