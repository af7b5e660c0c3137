"""``tfso-events publish``: bulk publish a file of events through either async publisher.

The file is read in chunks of ``--batch-size`` records (in a thread, so a signal is
seen even while a pipe has nothing to read); each record is validated (an invalid one
is reported and never sent) and each chunk is handed to the publisher's
``publish_many``, so memory stays flat however big the file is and the publisher does
the coalescing, chunking, concurrency and retries. Each record is confirmed the moment
its answer arrives (``on_result``), so every record read ends in exactly one count:
sent, failed (with the publisher's reason), invalid, skipped (``--resume``) or, when the
run is cut short, unconfirmed (handed to the publisher, no answer) or not sent.
``--failed-out`` and ``--unconfirmed-out`` collect the records to resend; ``--state``
records what was confirmed so ``--resume`` sends the rest and nothing twice.

The first record goes alone, with a short retry budget: if the target cannot be reached
or refuses the credentials, the run stops there with one message instead of retrying
every record of the file. A first batch that fails whole for such a reason stops it too.

Ctrl-C (or SIGTERM) stops reading and sends nothing new, and waits up to
``--stop-grace`` seconds for the answers to what is in flight; a second Ctrl-C stops
waiting; later ones are ignored while the summary is written.
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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import IO, Any, TypeVar

from tfso_events._files import open_private
from tfso_events._threads import in_a_thread
from tfso_events.cli._app import TARGET_ARGUMENTS, arg, command, positive_int, seconds
from tfso_events.cli._console import Progress, counted
from tfso_events.cli._publish_state import StateError, StateFile
from tfso_events.cli._records import STDIN, Record, RecordFile, failed_record, to_event
from tfso_events.errors import AuthenticationError, ConfigurationError, EventValidationError
from tfso_events.models._base import TfsoEvent
from tfso_events.publishing._batching import UNANSWERED, RetryPolicy
from tfso_events.publishing._protocols import Publisher
from tfso_events.results import PublishFailure, PublishResult

__all__ = ["publish"]

#: Errors that will fail every later event too: stop rather than go through the file.
_HOPELESS = (AuthenticationError, ConfigurationError)
#: The first record's retry budget: enough for a blip, short enough to tell a wrong
#: endpoint in seconds rather than after the full retry deadline.
_PROBE_DEADLINE = 5.0

#: Bad records printed one per line; the rest are counted by reason (and all of them
#: are in --failed-out when it is given).
_SHOWN = 10
#: Seconds between progress updates driven by answers (reading updates it per chunk).
_TICK = 0.1

_T = TypeVar("_T")


@dataclass(eq=False)
class _Item:
    """A valid record on its way (``number``: its position in the file, 1-based):
    whether it was handed to the publisher, and whether its outcome is known."""

    record: Record
    number: int
    event: TfsoEvent
    handed: bool = False
    done: bool = False
    #: Refused by the publisher before sending (a size limit): counted invalid.
    refused: bool = False


@dataclass
class _Outputs:
    """Where records go besides the terminal."""

    failed: IO[bytes] | None = None
    unconfirmed: IO[bytes] | None = None
    state: StateFile | None = None


@dataclass
class _Tally:
    """Counts, and the chunk in flight (for what an interruption leaves unconfirmed)."""

    read: int = 0
    done_bytes: int = 0
    sent: int = 0
    failed: int = 0
    invalid: int = 0
    skipped: int = 0
    not_json: int = 0
    #: The last record (number, line) up to which every record is settled; when the run
    #: stops, nothing after it was sent.
    upto: tuple[int, int] = (0, 0)
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
    #: What went wrong keeping the records (writing --failed-out or --state).
    broken: Exception | None = None

    @property
    def not_sent(self) -> int:
        """Records read whose fate is none of the others (read, then the run stopped)."""
        settled = self.sent + self.failed + self.invalid + self.skipped + self.unconfirmed
        return self.read - settled


@command(
    "publish",
    help="bulk publish an NDJSON file of events through EventBridge or the events API",
    arguments=[
        arg(
            "file", metavar="FILE", help="NDJSON (or JSON) of envelopes or API bodies; - for stdin"
        ),
        *TARGET_ARGUMENTS,
        arg("--concurrency", type=positive_int, metavar="N", help="requests in flight at once"),
        arg(
            "--max-attempts",
            type=positive_int,
            default=None,
            metavar="N",
            help="tries per event, the first included (default: no count; retries end "
            "at the retry deadline)",
        ),
        arg(
            "--retry-deadline",
            type=seconds,
            default=60.0,
            metavar="SECONDS",
            help="give up on events still failing after this long without progress "
            "(default: %(default)s)",
        ),
        arg(
            "--batch-size",
            type=positive_int,
            default=1000,
            metavar="N",
            help="records read and published per publish_many call (default: %(default)s)",
        ),
        arg(
            "--failed-out",
            metavar="FILE",
            help="write every failed or invalid record here (NDJSON, with a reason), "
            "ready to publish again (with --state, --resume resends the failed ones: then "
            "this file is for reference only)",
        ),
        arg(
            "--unconfirmed-out",
            metavar="FILE",
            help="write the records in flight without an answer when publish was stopped "
            "here (they may have arrived); default: into --failed-out, marked unconfirmed",
        ),
        arg(
            "--state",
            metavar="FILE",
            help="record the number of every record confirmed sent in FILE (written as each "
            "answer arrives, synced to disk every second), so an interrupted or killed run "
            "can be resumed",
        ),
        arg(
            "--resume",
            action="store_true",
            help="skip the records --state FILE lists as sent by an earlier run over the "
            "same input, and go on recording into it",
        ),
        arg(
            "--stop-grace",
            type=seconds,
            default=10.0,
            metavar="SECONDS",
            help="on Ctrl-C or SIGTERM, wait this long for the answers to what is in "
            "flight before giving up on them (default: %(default)s)",
        ),
    ],
)
def publish(args: argparse.Namespace) -> int:
    """Publish every record of FILE, reading it in batches (memory stays flat however
    big the file is) and sending each batch with the publisher's publish_many.

    Records are validated first: an invalid one is reported with its line and JSON path
    and never sent. Delivery failures (after retries) are reported with their reason.
    --failed-out writes each failed or invalid record as read, plus a "reason" key that
    publish and validate ignore, so it can be fixed if needed and published again.
    The first record goes alone: a target that cannot be reached, or that refuses the
    credentials, stops the run at once with one message.

    Each record is confirmed as its answer arrives. Ctrl-C (or SIGTERM) stops reading,
    waits up to --stop-grace seconds for the answers in flight (Ctrl-C again: stop
    waiting), and reports sent, failed, invalid and unconfirmed records separately;
    with --state FILE, run the same command with --resume to send the rest and nothing
    twice.

    Exit status: 0 when every record was sent, 1 when any failed or was invalid,
    2 for a usage or configuration error, 130 when interrupted.
    """
    if args.via == "api" and args.bus:
        return _usage("--bus applies to --via eventbridge only")
    if args.via == "eventbridge" and (args.client_id or args.client_secret or args.auth0_domain):
        return _usage("--client-id, --client-secret and --auth0-domain apply to --via api only")
    if not args.retry_deadline and not args.max_attempts:
        return _usage("--retry-deadline 0 (no time budget) needs --max-attempts N")
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
    try:
        records = RecordFile(args.file)
    except OSError as exc:
        return _usage(f"cannot read {args.file}: {exc.strerror or exc}")
    if args.state and records.size is None:
        records.close()
        return _usage("--state needs a regular file to read, not a pipe or standard input")
    with records:
        try:
            return asyncio.run(_main(args, records))
        except KeyboardInterrupt:
            if getattr(args, "summarised", False):
                return 130  # after the summary, while the loop shut down: all was said
            # Ctrl-C or SIGTERM before the loop's handlers were installed: nothing was
            # read or sent yet. Say so, and leave an (empty) --failed-out as promised.
            print("\ntfso-events publish: interrupted before the first record", file=sys.stderr)
            _summary(args, _Tally(stopped="interrupted"), "nowhere", 0.0)
            if args.failed_out:
                with contextlib.suppress(OSError), open_private(args.failed_out, "wb"):
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
                # The state first: refusing it must leave the other files as they were.
                if args.state:
                    # Hashing a big input takes a while: on a daemon thread, which Ctrl-C
                    # does not have to wait for.
                    checking = asyncio.ensure_future(
                        in_a_thread(
                            lambda: StateFile(args.state, args.file, resume=args.resume),
                            name="tfso-events-state",
                            may_block=True,
                        )
                    )
                    with stop.cancelling(checking):
                        await asyncio.wait({checking})
                    if checking.cancelled():
                        _summary(args, _Tally(stopped="interrupted"), target, 0.0)
                        return 130
                    try:
                        state = checking.result()
                    except StateError as exc:
                        return _usage(str(exc))
                wanted = (("failed", args.failed_out), ("unconfirmed", args.unconfirmed_out))
                for option, path in wanted:
                    if not path:
                        continue
                    try:
                        # Blocking opens, once, before anything is in flight; payloads
                        # go in: owner-only (0600).
                        opened = files.enter_context(open_private(path, "wb"))
                    except OSError as exc:
                        return _usage(f"cannot write {path}: {exc.strerror or exc}")
                    setattr(outputs, option, opened)
                if args.state:
                    try:
                        state.open()
                    except StateError as exc:
                        return _usage(str(exc))
                    files.callback(state.close)
                    outputs.state = state
                code = await _run(args, client, target, records, outputs, stop)
                try:
                    files.close()  # flush now: a full disk is reported, not a traceback
                except OSError as exc:  # already said in the summary, when it was seen
                    print(f"tfso-events publish: cannot write: {exc}", file=sys.stderr)
                    return code or 1
                return code
        finally:
            await client.aclose()


async def _run(
    args: argparse.Namespace,
    client: Publisher,
    target: str,
    records: RecordFile,
    outputs: _Outputs,
    stop: _StopOnSignals,
) -> int:
    tally = _Tally()
    started = time.monotonic()
    with Progress(f"publish via {args.via}", total=records.size) as progress:
        job = _Job(args, client, tally, outputs, progress, stop)
        work = asyncio.ensure_future(_publish_all(job, iter(records)))
        with stop.cancelling(work):
            await asyncio.wait({work})
    error = None if work.cancelled() else work.exception()
    if isinstance(error, ConfigurationError):  # e.g. the client refused to open
        return _usage(str(error))
    if work.cancelled() or stop.signalled:  # Ctrl-C is the reason, whatever else happened
        tally.stopped = "interrupted"
    elif error is not None:
        tally.stopped, tally.why = "stopped", f" by an unexpected {type(error).__name__}"
    if tally.stopped or tally.broken is not None:
        _unconfirmed(tally, outputs)
    for out in (outputs.failed, outputs.unconfirmed, outputs.state):
        try:
            if out is not None:
                out.flush()  # now, so that the summary does not promise what is not there
        except OSError as exc:
            tally.broken = tally.broken or exc
    if tally.broken is not None and tally.stopped != "interrupted":
        tally.stopped, tally.why = "stopped", f", the records could not be kept ({tally.broken})"
    _summary(args, tally, target, time.monotonic() - started)
    if error is not None:
        raise error  # a bug: what was sent is reported above, and now the traceback
    if tally.stopped == "interrupted":
        return 130
    return 1 if tally.failed or tally.invalid or tally.stopped else 0


def _client(args: argparse.Namespace) -> tuple[Publisher, str]:
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
    from tfso_events.publishing.eventbridge import TfsoEventBridgeClient

    # In local the client itself finds the hub (AWS_ENDPOINT_URL_EVENTBRIDGE, as the
    # hub's banner says to export, else its default URL) and signs with dummy
    # credentials, neither depending on nor sending the shell's AWS configuration.
    bridge = TfsoEventBridgeClient(
        env, args.bus, region_name=args.region, endpoint_url=args.endpoint_url, **options
    )
    endpoint = bridge.endpoint_url
    where = f"EventBridge at {endpoint}" if endpoint else f"EventBridge ({env})"
    return bridge, where


class _StopOnSignals:
    """Ctrl-C or SIGTERM (what a container orchestrator sends) asks the work in
    :meth:`cancelling` to stop: no more records are read and nothing new is sent, and
    the answers to what is in flight are awaited for up to ``grace`` seconds before the
    work is cancelled (at once when nothing is in flight). A second signal cancels it;
    later ones are ignored while the summary is written. A signal before any work
    cancels it as soon as it starts."""

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
        for signum in self.signals:
            self._loop.remove_signal_handler(signum)
            if self.signalled:  # stopping already: more signals must not cut the exit short
                signal.signal(signum, signal.SIG_IGN)  # (the process ends after this run)
        if self._timer is not None:
            self._timer.cancel()

    def _stop(self) -> None:
        self._count += 1
        self.signalled = True
        work = self._work
        if work is None or work.done():
            if self._count == 1:
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
            self._timer = self._loop.call_later(self.grace, work.cancel)
            return
        if self._count <= 2:
            print("\ntfso-events publish: stopping now", file=sys.stderr)
            work.cancel()

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


@dataclass
class _Job:
    """One run of the command: its options, publisher, counts, output files, progress
    display and signal handling, which every step below reads or updates."""

    args: argparse.Namespace
    client: Publisher
    tally: _Tally
    outputs: _Outputs
    progress: Progress
    stop: _StopOnSignals


async def _publish_all(job: _Job, records: Iterator[Record]) -> None:
    args, tally, outputs, progress, stop = job.args, job.tally, job.outputs, job.progress, job.stop
    skip = outputs.state.done if outputs.state is not None else frozenset()
    while not stop.signalled and not tally.stopped and tally.broken is None:
        chunk = await in_a_thread(
            lambda: list(islice(records, args.batch_size)), name="tfso-events-read", may_block=True
        )
        if not chunk:
            break
        first = tally.read + 1
        tally.read += len(chunk)
        tally.done_bytes = chunk[-1].end
        items: list[_Item] = []
        for number, record in enumerate(chunk, start=first):
            if number in skip:
                tally.skipped += 1
                continue
            problem = record.error
            if record.raw is not None:
                try:
                    items.append(_Item(record, number, to_event(record.raw)))
                except EventValidationError as exc:
                    problem = _problem(exc)
            if problem is not None:
                tally.invalid += 1
                tally.not_json += record.raw is None
                _report(tally, outputs, record, f"invalid: {problem}", "invalid")
        try:
            await _send(job, items)
        finally:  # also when cancelled: records handed over are sent, failed or unconfirmed
            # Every record up to the first one never handed over is settled.
            unsent = next((item for item in items if not item.handed), None)
            if unsent is None:
                tally.upto = (first + len(chunk) - 1, chunk[-1].line)
            elif unsent.number > first:
                tally.upto = (unsent.number - 1, chunk[unsent.number - 1 - first].line)
        _progress(progress, tally)


def _progress(progress: Progress, tally: _Tally) -> None:
    tally.ticked = time.monotonic()
    counts = {"sent": tally.sent, "failed": tally.failed, "invalid": tally.invalid}
    if tally.skipped:
        counts["skipped"] = tally.skipped
    progress.update(tally.read, tally.done_bytes, **counts)


async def _send(job: _Job, items: list[_Item]) -> None:
    """Hand the valid records of a chunk to the publisher (unless a signal came while
    they were read), the first record of the run alone first."""
    tally, stop = job.tally, job.stop
    tally.in_flight = items
    stop.in_flight = lambda: sum(item.handed and not item.done for item in items)
    _progress(job.progress, tally)  # what was read shows while the chunk is in flight
    failures: list[PublishFailure] = []
    try:
        await asyncio.sleep(0)  # a signal that came while reading is seen here
        pending: Sequence[_Item] = items
        if pending and not tally.probed:
            pending = await _probe(job, items, failures)
        await _publish_many(job, pending, failures)
    finally:
        # (Each confirmation reached the state file as it came: nothing to flush here.)
        tally.in_flight = [item for item in items if item.handed and not item.done]
        stop.in_flight = lambda: 0
    sendable = sum(not item.refused for item in items)
    whole = failures and len(failures) == sendable and tally.sent == 0
    if whole and not tally.stopped and all(_hopeless(failure) for failure in failures):
        # Every event refused for the setup or not answered at all, and none ever
        # accepted: the next chunk would fail the same way, and would only hammer the
        # target. Stop; the rest of the file is left unsent.
        tally.stopped = "stopped"
        tally.why = f", every event of the first batch failed ({failures[-1].reason})"


def _hopeless(failure: PublishFailure) -> bool:
    """A failure every later event would share: no answer, or the setup refused."""
    return failure.code == UNANSWERED or isinstance(failure.error, _HOPELESS)


async def _probe(job: _Job, items: list[_Item], failures: list[PublishFailure]) -> Sequence[_Item]:
    """Send the run's first record alone, under the user's retry policy with a short
    budget for a target that never answers (``unanswered_deadline``): no answer, or a
    refused setup, stops the run here (the other records are not sent). A target that
    answers, even with throttling, gets the user's whole policy. A record the publisher
    refuses before sending (a size limit) is reported invalid and the next is probed.
    Returns the records left to send."""
    tally = job.tally
    policy = dataclasses.replace(job.args.retry, unanswered_deadline=_PROBE_DEADLINE)
    for at, first in enumerate(items):
        outcome = await _publish_one(job, first, policy)
        if outcome is None and first.done:
            continue  # refused before sending: reported invalid; probe with the next
        rest = items[at + 1 :]
        tally.probed = outcome is not None
        if outcome is None or isinstance(outcome, PublishResult):
            return rest  # a signal came first (not sent), or it was sent
        _settled(job, first, outcome, failures)
        if _hopeless(outcome):
            tally.stopped = "stopped"
            tally.why = ", the first record could not be delivered (see above)"
            return []
        return rest
    return []


async def _publish_one(
    job: _Job, item: _Item, policy: RetryPolicy
) -> PublishResult | PublishFailure | None:
    """Publish one record under ``policy``: a success is settled here; a failure is
    returned for the caller to judge. ``None`` when it was not sent (a signal, or
    refused before sending: then reported invalid)."""
    if job.stop.signalled:
        return None
    item.handed = True
    try:
        result = await job.client.publish_many([item.event], raise_on_error=False, retry=policy)
    except EventValidationError as exc:
        item.done = item.refused = True
        job.tally.invalid += 1
        _report(job.tally, job.outputs, item.record, f"invalid: {_problem(exc)}", "invalid")
        return None
    (outcome,) = result.results
    if isinstance(outcome, PublishResult):
        _settled(job, item, outcome, [])
    return outcome


def _settled(
    job: _Job, item: _Item, outcome: PublishResult | PublishFailure, failures: list[PublishFailure]
) -> None:
    """One record's answer arrived: count it, report or checkpoint it."""
    tally, outputs = job.tally, job.outputs
    item.done = True
    try:
        if isinstance(outcome, PublishFailure):
            tally.failed += 1
            failures.append(outcome)
            _report(tally, outputs, item.record, f"failed: {outcome.reason}", outcome.code)
        else:
            tally.sent += 1
            if outputs.state is not None:
                outputs.state.confirm(item.number)
    except OSError as exc:  # a full disk: stop, rather than lose track of records
        tally.broken = tally.broken or exc
    if time.monotonic() - tally.ticked >= _TICK:
        _progress(job.progress, tally)


async def _publish_many(job: _Job, items: Sequence[_Item], failures: list[PublishFailure]) -> None:
    tally = job.tally
    if not items or job.stop.signalled or tally.stopped or tally.broken:
        return  # nothing handed over: these records are not sent

    def on_result(outcome: PublishResult | PublishFailure) -> None:
        _settled(job, items[outcome.index], outcome, failures)

    for item in items:
        item.handed = True
    try:
        await job.client.publish_many(
            [item.event for item in items], raise_on_error=False, on_result=on_result
        )
    except EventValidationError as exc:
        # A check only the publisher makes (EventBridge's size limits) refused the whole
        # call before anything was sent: halve it until the culprit stands alone.
        for item in items:
            item.handed = False
        if len(items) == 1:
            (item,) = items
            item.handed = item.done = item.refused = True
            tally.invalid += 1
            _report(tally, job.outputs, item.record, f"invalid: {_problem(exc)}", "invalid")
            return
        middle = len(items) // 2
        await _publish_many(job, items[:middle], failures)
        await _publish_many(job, items[middle:], failures)


def _problem(exc: EventValidationError) -> str:
    what = f"{exc.detail_type} " if exc.detail_type else ""
    return f"{what}{exc.path}: {exc.reason}"


def _report(
    tally: _Tally, outputs: _Outputs, record: Record, reason: str, code: str | None
) -> None:
    """Write a bad record to --failed-out and print it (the first few; the rest are
    counted by reason for the summary)."""
    if outputs.failed is not None and record.raw is not None:
        try:
            outputs.failed.write(failed_record(record.raw, reason))
        except OSError as exc:  # a full disk: the run stops rather than lose records
            tally.broken = tally.broken or exc
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
    """After a stop: records handed to the publisher without an answer may or may not
    have arrived. They go to --unconfirmed-out (else to --failed-out, marked) so none is
    lost."""
    left = [item for item in tally.in_flight if item.handed and not item.done]
    out = outputs.unconfirmed or outputs.failed
    if out is not None:
        reason = "unconfirmed: in flight when publish stopped; it may have arrived"
        try:
            for item in left:
                assert item.record.raw is not None
                out.write(failed_record(item.record.raw, reason))
        except OSError as exc:
            tally.broken = tally.broken or exc
    tally.unconfirmed = len(left)
    tally.in_flight = left


def _summary(args: argparse.Namespace, tally: _Tally, target: str, elapsed: float) -> None:
    args.summarised = True
    rate = tally.sent / elapsed if elapsed > 0 else 0.0
    name = "<stdin>" if args.file == STDIN else args.file
    stopped = ""
    if tally.stopped:
        stopped = f", {tally.unconfirmed} unconfirmed, {tally.not_sent} not sent"
    skipped = f", {tally.skipped} skipped (sent before, per {args.state})" if tally.skipped else ""
    counts = (
        f"{tally.sent} sent, {tally.failed} failed, {tally.invalid} invalid{stopped}"
        f"{skipped} of {counted(tally.read, 'record')} read from {name} via {target} in "
        f"{elapsed:.1f} s ({rate:.0f} events/s)"
    )
    if tally.stopped:
        number, line = tally.upto
        where = f"after record {number} (line {line})" if number else "before the first record"
        after = f"nothing after record {number} was sent" if number else "nothing was sent"
        print(f"publish: {tally.stopped} {where}{tally.why}: {counts}; {after}")
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
    if tally.broken is not None:
        print(f"publish: the records to resend could not be written: {tally.broken}")
        return
    bad = tally.failed + tally.invalid + (0 if args.unconfirmed_out else tally.unconfirmed)
    if args.state and (tally.stopped or tally.failed or tally.unconfirmed):
        # One way to resend, never two: --resume sends every record the state does not
        # list as confirmed (failed, unconfirmed, not sent), so resending --failed-out
        # or --unconfirmed-out as well would send those records twice.
        print(
            f"publish: to resend, run the same command again with --resume: {args.state} "
            "holds what was confirmed, and only the rest is sent (the failed, the "
            "unconfirmed and those not sent)"
        )
        lists = [path for path in (args.failed_out, args.unconfirmed_out) if path]
        if lists and (bad or tally.unconfirmed):
            print(
                f"publish: {' and '.join(lists)} list those records for reference only; "
                "--resume sends them, so do not send them yourself as well"
            )
    elif args.failed_out and bad:
        note = " (lines that are not JSON are only listed above)" if tally.not_json else ""
        print(
            f"publish: failed and invalid records written to {args.failed_out}, ready to "
            f"resend{note}"
        )
