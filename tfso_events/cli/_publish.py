"""``tfso-events publish``: bulk publish a file of events through either async publisher.

The file is read in batches of ``--batch-size`` records; each batch is validated (an
invalid record is reported and never sent) and handed to the publisher's
``publish_many``, so memory stays flat however big the file is and the publisher does
the coalescing, chunking, concurrency and retries. Each record is confirmed the moment
its answer arrives (``on_result``), so every record ends sent, failed (with the
publisher's reason), invalid, or, when the run is cut short, unconfirmed; ``--failed-out``
and ``--unconfirmed-out`` collect them, ready to publish again, and ``--state`` records
what was confirmed so ``--resume`` sends the rest and nothing twice.

The first record goes alone, with a short retry budget: if the target cannot be reached
or refuses the credentials, the run stops there with one message instead of retrying
every record of the file. A first batch that fails whole for one reason stops it too.

Ctrl-C (or SIGTERM) stops reading and waits up to ``--stop-grace`` seconds for the
answers to what is in flight; a second Ctrl-C stops waiting. Either way the summary
says what was sent, what failed and what is unconfirmed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from tfso_events.cli._console import Progress, counted
from tfso_events.cli._publish_state import StateError, StateFile
from tfso_events.cli._records import STDIN, Record, RecordFile, failed_record, to_event
from tfso_events.errors import AuthenticationError, ConfigurationError, EventValidationError
from tfso_events.models._base import TfsoEvent
from tfso_events.publishing._batching import RetryPolicy
from tfso_events.results import BatchResult, OnResult, PublishFailure, PublishResult

__all__ = ["run_publish"]

#: Errors that will fail every later event too: stop rather than go through the file.
_HOPELESS = (AuthenticationError, ConfigurationError)
#: The failure code of a target that did not answer at all (refused, unreachable, timed out).
_UNREACHABLE = "connection_error"
#: The first record's retry budget: enough for a blip, short enough to tell a wrong
#: endpoint in seconds rather than after the full retry deadline.
_PROBE_DEADLINE = 5.0

#: Bad records printed one per line; the rest are counted by reason (and all of them
#: are in --failed-out when it is given).
_SHOWN = 10
#: Seconds between progress updates driven by answers (reading updates it per batch).
_TICK = 0.1


class _Publisher(Protocol):
    """What publish needs of either async client."""

    async def publish_many(
        self,
        events: Iterable[TfsoEvent],
        *,
        raise_on_error: bool = ...,
        on_result: OnResult | None = ...,
        retry: RetryPolicy | None = ...,
    ) -> BatchResult: ...

    async def aclose(self) -> None: ...


@dataclass(eq=False)
class _Item:
    """A valid record on its way (``number``: its position in the file, 1-based), and
    whether its outcome is known yet."""

    record: Record
    number: int
    event: TfsoEvent
    done: bool = False


@dataclass
class _Outputs:
    """Where records go besides the terminal."""

    failed: IO[bytes] | None = None
    unconfirmed: IO[bytes] | None = None
    state: StateFile | None = None


@dataclass
class _Tally:
    """Counts, and the batch in flight (for what an interruption leaves unconfirmed)."""

    read: int = 0
    done_bytes: int = 0
    sent: int = 0
    failed: int = 0
    invalid: int = 0
    skipped: int = 0
    not_json: int = 0
    #: The last line handled (sent, failed, invalid or skipped); later ones were not sent.
    last_line: int = 0
    in_flight: list[_Item] = field(default_factory=list)
    unconfirmed: int = 0
    shown: int = 0
    #: Reasons of the bad records not printed one by one.
    hidden: Counter[str] = field(default_factory=Counter)
    #: Set when the file was not read to the end: "interrupted" or "stopped", and why.
    stopped: str | None = None
    why: str = ""
    ticked: float = 0.0
    probed: bool = False


def run_publish(args: argparse.Namespace) -> int:
    """Run ``tfso-events publish`` with parsed ``args``; return the exit status."""
    if args.via == "api" and args.bus:
        return _usage("--bus applies to --via eventbridge only")
    if args.via == "eventbridge" and (args.client_id or args.client_secret or args.auth0_domain):
        return _usage("--client-id, --client-secret and --auth0-domain apply to --via api only")
    outputs = {"--failed-out": args.failed_out, "--unconfirmed-out": args.unconfirmed_out}
    outputs["--state"] = args.state
    for option, path in outputs.items():
        if path and args.file != STDIN and _same_file(path, args.file):
            return _usage(f"{option} must not be the input file")
    named = [path for path in outputs.values() if path]
    if len(set(map(os.path.abspath, named))) < len(named):
        return _usage("--failed-out, --unconfirmed-out and --state must be different files")
    if args.resume and not args.state:
        return _usage("--resume needs --state FILE (the state file of the earlier run)")
    if args.state and args.file == STDIN:
        return _usage("--state needs a file to read, not standard input (it counts records)")
    try:
        records = RecordFile(args.file)
    except OSError as exc:
        return _usage(f"cannot read {args.file}: {exc.strerror or exc}")
    with records:
        try:
            return asyncio.run(_main(args, records))
        except KeyboardInterrupt:
            # Ctrl-C or SIGTERM before the loop's handlers were installed: nothing was
            # read or sent yet. Say so, and leave an (empty) --failed-out as promised.
            print("\ntfso-events publish: interrupted before the first record", file=sys.stderr)
            _summary(args, _Tally(stopped="interrupted"), "nowhere", 0.0)
            if args.failed_out:
                with contextlib.suppress(OSError), open(args.failed_out, "wb"):
                    pass
            return 130


def _usage(message: str) -> int:
    print(f"tfso-events publish: {message}", file=sys.stderr)
    return 2


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


async def _main(args: argparse.Namespace, records: RecordFile) -> int:
    # Signals first: opening the client imports aioboto3 or aiohttp, and SIGTERM from an
    # orchestrator may come at any moment; from here on it stops publish like Ctrl-C.
    with _StopOnSignals(args.stop_grace) as stop:
        try:
            client, target = _client(args)
        except ConfigurationError as exc:
            return _usage(str(exc))
        try:
            with contextlib.ExitStack() as files:
                outputs = _Outputs()
                # ASYNC230: blocking opens, once, before anything is in flight
                for option, attribute in (("failed_out", "failed"), ("unconfirmed_out", None)):
                    path = getattr(args, option)
                    if not path:
                        continue
                    try:
                        opened = files.enter_context(open(path, "wb"))  # noqa: ASYNC230
                    except OSError as exc:
                        return _usage(f"cannot write {path}: {exc.strerror or exc}")
                    setattr(outputs, attribute or "unconfirmed", opened)
                if args.state:
                    try:
                        state = StateFile(
                            args.state, args.file, records.size or 0, resume=args.resume
                        )
                    except StateError as exc:
                        return _usage(str(exc))
                    files.callback(state.close)
                    outputs.state = state
                return await _run(args, client, target, records, outputs, stop)
        finally:
            await client.aclose()


async def _run(
    args: argparse.Namespace,
    client: _Publisher,
    target: str,
    records: RecordFile,
    outputs: _Outputs,
    stop: _StopOnSignals,
) -> int:
    tally = _Tally()
    started = time.monotonic()
    with Progress(f"publish via {args.via}", total=records.size) as progress:
        work = asyncio.ensure_future(
            _publish_all(args, client, iter(records), tally, outputs, progress, stop)
        )
        with stop.cancelling(work):
            await asyncio.wait({work})
    error = None if work.cancelled() else work.exception()
    if isinstance(error, ConfigurationError):  # e.g. the client refused to open
        return _usage(str(error))
    if work.cancelled() or (stop.signalled and not tally.stopped):
        tally.stopped = "interrupted"
    elif error is not None:
        tally.stopped, tally.why = "stopped", f" by an unexpected {type(error).__name__}"
    if tally.stopped:
        _unconfirmed(tally, outputs)
    if outputs.state is not None:
        outputs.state.flush()
    _summary(args, tally, target, time.monotonic() - started)
    if error is not None:
        raise error  # a bug: what was sent is reported above, and now the traceback
    if tally.stopped == "interrupted":
        return 130
    return 1 if tally.failed or tally.invalid or tally.stopped else 0


def _client(args: argparse.Namespace) -> tuple[_Publisher, str]:
    """The async publisher the options describe, and where it sends (for the summary)."""
    from tfso_events.environments import resolve_credentials, resolve_environment

    retry = RetryPolicy(max_attempts=args.max_attempts, deadline=args.retry_deadline or None)
    args.retry = retry  # the first record's probe shortens it
    options: dict[str, Any] = {"retry": retry}
    if args.concurrency:
        options["max_concurrency"] = args.concurrency
    env = resolve_environment(args.env).name  # args.env, else TFSO_EVENTS_ENVIRONMENT
    if args.via == "api":
        from tfso_events.local import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
        from tfso_events.publishing.api import TfsoEventApiClient

        client_id, secret = args.client_id, args.client_secret
        auth0_domain = args.auth0_domain
        if env == "local":
            # The hub serves Auth0 too, and has a ready client for anyone who set none.
            auth0_domain = auth0_domain or args.endpoint_url
            try:
                resolve_credentials(client_id, secret)
            except ConfigurationError:
                client_id, secret = DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
        api = TfsoEventApiClient(
            env,
            client_id,
            secret,
            api_url=args.endpoint_url,
            auth0_domain=auth0_domain,
            **options,
        )
        return api, f"the events API at {api.environment.api_url}"
    from tfso_events.environments import LOCAL_URL
    from tfso_events.publishing.eventbridge import TfsoEventBridgeClient

    endpoint, region = args.endpoint_url, args.region
    if env == "local":
        # The local hub's EventBridge: it accepts any credentials, so give it dummy ones
        # rather than depend on (or send) the shell's AWS configuration.
        from tfso_events.cli._local import LOCAL_REGION, local_aws_session

        region = region or LOCAL_REGION
        # The variables botocore itself reads (what `tfso-events hub` tells you to
        # export), then the default hub's URL.
        endpoint = (
            endpoint
            or os.environ.get("AWS_ENDPOINT_URL_EVENTBRIDGE")
            or os.environ.get("AWS_ENDPOINT_URL")
            or LOCAL_URL
        )
        options["session"] = local_aws_session(region)
        env = "dev"
    bridge = TfsoEventBridgeClient(
        env, args.bus, region_name=region, endpoint_url=endpoint, **options
    )
    where = f"EventBridge at {endpoint}" if endpoint else f"EventBridge ({env})"
    return bridge, where


class _StopOnSignals:
    """Ctrl-C or SIGTERM (what a container orchestrator sends) asks the work in
    :meth:`cancelling` to stop: no more records are read, and the answers to what is in
    flight are awaited for up to ``grace`` seconds before the work is cancelled. A second
    signal cancels it at once; a third interrupts (Ctrl-C) or terminates (SIGTERM) as
    usual. A signal before any work cancels it as soon as it starts."""

    signals = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self.signalled = False
        self._count = 0
        self._work: asyncio.Future[Any] | None = None
        self._timer: asyncio.TimerHandle | None = None
        #: How many records are in flight without an answer (set by the work).
        self.in_flight: Callable[[], int] = lambda: 0

    def __enter__(self) -> _StopOnSignals:
        self._loop = asyncio.get_running_loop()
        for signum in self.signals:
            self._loop.add_signal_handler(signum, self._stop)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._remove()
        if self._timer is not None:
            self._timer.cancel()

    def _remove(self) -> None:
        for signum in self.signals:
            self._loop.remove_signal_handler(signum)

    def _stop(self) -> None:
        self._count += 1
        self.signalled = True
        if self._work is None:
            print("\ntfso-events publish: stopping", file=sys.stderr)
            return
        waiting = self.in_flight()
        if self._count == 1 and waiting and self.grace > 0:
            print(
                f"\ntfso-events publish: stopping; waiting up to {self.grace:g} s for the "
                f"answers to {counted(waiting, 'event')} in flight (Ctrl-C again to stop "
                "waiting)",
                file=sys.stderr,
            )
            self._timer = self._loop.call_later(self.grace, self._work.cancel)
            return
        print("\ntfso-events publish: stopping now", file=sys.stderr)
        self._remove()
        self._work.cancel()

    @contextlib.contextmanager
    def cancelling(self, work: asyncio.Future[Any]) -> Iterator[None]:
        """Signals stop ``work`` while in this block (at once if one came already)."""
        self._work = work
        if self.signalled:
            work.cancel()
        try:
            yield
        finally:
            self._work = None


async def _publish_all(
    args: argparse.Namespace,
    client: _Publisher,
    records: Iterator[Record],
    tally: _Tally,
    outputs: _Outputs,
    progress: Progress,
    stop: _StopOnSignals,
) -> None:
    skip = outputs.state.done if outputs.state is not None else frozenset()
    batch: list[_Item] = []
    for number, record in enumerate(records, start=1):
        if stop.signalled:
            # Nothing new is sent after Ctrl-C: what was read and not sent is not lost,
            # it is after the line the summary names.
            if batch:
                tally.last_line = batch[0].record.line - 1
            return
        tally.read += 1
        tally.done_bytes = record.end
        if number in skip:
            tally.skipped += 1
            if not batch:
                tally.last_line = record.line
            continue
        problem = record.error
        if record.raw is not None:
            try:
                batch.append(_Item(record, number, to_event(record.raw)))
            except EventValidationError as exc:
                problem = _problem(exc)
        if problem is not None:
            tally.invalid += 1
            tally.not_json += record.raw is None
            _report(tally, outputs, record, f"invalid: {problem}", "invalid")
            if not batch:
                tally.last_line = record.line
        if len(batch) >= args.batch_size:
            tally.last_line = record.line
            await _send(args, client, batch, tally, outputs, progress, stop)
            batch = []
            if tally.stopped:
                return
    if batch and not stop.signalled:
        tally.last_line = max(batch[-1].record.line, tally.last_line)
        await _send(args, client, batch, tally, outputs, progress, stop)
    _progress(progress, tally)


def _progress(progress: Progress, tally: _Tally) -> None:
    tally.ticked = time.monotonic()
    counts = {"sent": tally.sent, "failed": tally.failed, "invalid": tally.invalid}
    if tally.skipped:
        counts["skipped"] = tally.skipped
    progress.update(tally.read, tally.done_bytes, **counts)


async def _send(
    args: argparse.Namespace,
    client: _Publisher,
    items: list[_Item],
    tally: _Tally,
    outputs: _Outputs,
    progress: Progress,
    stop: _StopOnSignals,
) -> None:
    tally.in_flight = items
    stop.in_flight = lambda: sum(not item.done for item in items)
    _progress(progress, tally)  # what was read shows while the batch is in flight
    failures: list[PublishFailure] = []
    try:
        pending: Sequence[_Item] = items
        if not tally.probed:
            tally.probed = True
            pending = await _probe(args, client, items, tally, outputs, progress, failures)
            if tally.stopped:
                return
        await _publish_many(client, pending, tally, outputs, progress, failures)
    finally:
        tally.in_flight = [item for item in items if not item.done]
        stop.in_flight = lambda: 0
        if outputs.state is not None:
            outputs.state.flush()
    _progress(progress, tally)
    if failures and len(failures) == len(items) and tally.sent == 0:
        codes = {failure.code for failure in failures}
        if all(_hopeless(failure) for failure in failures) or len(codes) == 1:
            # Every event refused for one reason and none ever accepted: the next batch
            # would fail the same way, and would only hammer the target. Stop; the rest
            # of the file is left unsent.
            tally.stopped = "stopped"
            tally.why = f", every event of the first batch failed ({failures[-1].reason})"


def _hopeless(failure: PublishFailure) -> bool:
    """A failure every later event would share: no answer, or the setup refused."""
    return failure.code == _UNREACHABLE or isinstance(failure.error, _HOPELESS)


async def _probe(
    args: argparse.Namespace,
    client: _Publisher,
    items: list[_Item],
    tally: _Tally,
    outputs: _Outputs,
    progress: Progress,
    failures: list[PublishFailure],
) -> Sequence[_Item]:
    """Send the run's first record alone with a short retry budget: a target that does
    not answer, or refuses the setup, stops the run here. Returns what is left to send
    (the first record too if it failed for a passing reason under the short budget)."""
    policy: RetryPolicy = args.retry
    if policy.deadline is None or policy.deadline > _PROBE_DEADLINE:
        policy = dataclasses.replace(policy, deadline=_PROBE_DEADLINE)
    first = items[0]
    seen: list[PublishFailure] = []
    try:
        result = await client.publish_many(
            [first.event], raise_on_error=False, retry=policy, on_result=None
        )
    except EventValidationError:
        return items  # refused before sending: the normal path reports it as invalid
    (outcome,) = result.results
    if isinstance(outcome, PublishResult):
        _settled(first, outcome, tally, outputs, progress, seen)
        return items[1:]
    final = policy == args.retry or (
        args.retry.max_attempts is not None and outcome.attempts >= args.retry.max_attempts
    )
    if _hopeless(outcome) or final:
        _settled(first, outcome, tally, outputs, progress, failures)
        if _hopeless(outcome):
            # Nothing else of the batch was handed over: the records after this one are
            # not sent (not unconfirmed), and the run stops at its line.
            tally.stopped = "stopped"
            tally.why = ", the first record could not be delivered (see above)"
            tally.last_line = first.record.line
            for item in items[1:]:
                item.done = True
            return []
        return items[1:]
    return items  # e.g. throttled for a moment: the full retry budget applies to it


def _settled(
    item: _Item,
    outcome: PublishResult | PublishFailure,
    tally: _Tally,
    outputs: _Outputs,
    progress: Progress,
    failures: list[PublishFailure],
) -> None:
    """One record's answer arrived: count it, report or checkpoint it."""
    item.done = True
    if isinstance(outcome, PublishFailure):
        tally.failed += 1
        failures.append(outcome)
        _report(tally, outputs, item.record, f"failed: {outcome.reason}", outcome.code)
    else:
        tally.sent += 1
        if outputs.state is not None:
            outputs.state.confirm(item.number)
    if time.monotonic() - tally.ticked >= _TICK:
        _progress(progress, tally)


async def _publish_many(
    client: _Publisher,
    items: Sequence[_Item],
    tally: _Tally,
    outputs: _Outputs,
    progress: Progress,
    failures: list[PublishFailure],
) -> None:
    if not items:
        return

    def on_result(outcome: PublishResult | PublishFailure) -> None:
        _settled(items[outcome.index], outcome, tally, outputs, progress, failures)

    try:
        await client.publish_many(
            [item.event for item in items], raise_on_error=False, on_result=on_result
        )
    except EventValidationError as exc:
        # A check only the publisher makes (EventBridge's size limits) refused the whole
        # call before anything was sent: halve it until the culprit stands alone.
        if len(items) == 1:
            (item,) = items
            item.done = True
            tally.invalid += 1
            _report(tally, outputs, item.record, f"invalid: {_problem(exc)}", "invalid")
            return
        middle = len(items) // 2
        await _publish_many(client, items[:middle], tally, outputs, progress, failures)
        await _publish_many(client, items[middle:], tally, outputs, progress, failures)


def _problem(exc: EventValidationError) -> str:
    what = f"{exc.detail_type} " if exc.detail_type else ""
    return f"{what}{exc.path}: {exc.reason}"


def _report(
    tally: _Tally, outputs: _Outputs, record: Record, reason: str, code: str | None
) -> None:
    """Write a bad record to --failed-out and print it (the first few; the rest are
    counted by reason for the summary)."""
    if outputs.failed is not None and record.raw is not None:
        outputs.failed.write(failed_record(record.raw, reason))
    tally.shown += 1
    if tally.shown <= _SHOWN:
        print(f"{record.where}: {reason}", file=sys.stderr)
        return
    tally.hidden[code or "failed"] += 1
    if tally.shown == _SHOWN + 1:
        where = "--failed-out" if outputs.failed is not None else "the summary"
        print(
            f"tfso-events publish: more bad records are counted in {where}, not listed",
            file=sys.stderr,
        )


def _unconfirmed(tally: _Tally, outputs: _Outputs) -> None:
    """After a stop: records in flight without an answer may or may not have arrived.
    They go to --unconfirmed-out (else to --failed-out, marked) so none is lost."""
    left = [item for item in tally.in_flight if not item.done]
    out = outputs.unconfirmed or outputs.failed
    if out is not None:
        for item in left:
            assert item.record.raw is not None
            reason = "unconfirmed: in flight when publish stopped; it may have arrived"
            out.write(failed_record(item.record.raw, reason))
    tally.unconfirmed = len(left)
    tally.in_flight = left


def _summary(args: argparse.Namespace, tally: _Tally, target: str, elapsed: float) -> None:
    rate = tally.sent / elapsed if elapsed > 0 else 0.0
    name = "<stdin>" if args.file == STDIN else args.file
    unconfirmed = f", {tally.unconfirmed} unconfirmed" if tally.stopped else ""
    skipped = f", {tally.skipped} skipped (sent before, per {args.state})" if tally.skipped else ""
    counts = (
        f"{tally.sent} sent, {tally.failed} failed, {tally.invalid} invalid{unconfirmed}"
        f"{skipped} of {counted(tally.read, 'record')} from {name} via {target} in "
        f"{elapsed:.1f} s ({rate:.0f} events/s)"
    )
    if tally.stopped:
        print(
            f"publish: {tally.stopped} after line {tally.last_line}{tally.why}: {counts}; "
            f"lines after {tally.last_line} were not sent"
        )
    else:
        print(f"publish: {counts}")
    if tally.hidden:
        reasons = ", ".join(f"{n} {code}" for code, n in tally.hidden.most_common())
        print(f"publish: not listed above: {reasons}")
    if tally.unconfirmed:
        out = args.unconfirmed_out or args.failed_out
        kept = f", written to {out}" if out else ""
        print(
            f"publish: {counted(tally.unconfirmed, 'record')} in flight without an answer "
            f"(they may have arrived){kept}"
        )
    bad = tally.failed + tally.invalid + (0 if args.unconfirmed_out else tally.unconfirmed)
    if args.failed_out and bad:
        note = " (lines that are not JSON are only listed above)" if tally.not_json else ""
        print(
            f"publish: failed and invalid records written to {args.failed_out}, ready to "
            f"resend{note}"
        )
    if args.state and tally.stopped:
        print(
            f"publish: {args.state} holds what was confirmed; run again with --state "
            f"{args.state} --resume to send the rest and nothing twice"
        )
