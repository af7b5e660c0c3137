"""``tfso-events publish``: bulk publish a file of events through either async publisher.

The file is read in batches of ``--batch-size`` records; each batch is validated (an
invalid record is reported and never sent) and handed to the publisher's
``publish_many``, so memory stays flat however big the file is and the publisher does
the coalescing, chunking, concurrency and retries. Every record ends sent, failed (with
the publisher's reason) or invalid; ``--failed-out`` collects the last two, ready to
publish again. Ctrl-C (or SIGTERM) cancels the batch in flight, closes the client and
reports what was confirmed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from tfso_events.cli._console import Progress, counted
from tfso_events.cli._records import STDIN, Record, RecordFile, failed_record, to_event
from tfso_events.errors import AuthenticationError, ConfigurationError, EventValidationError
from tfso_events.models._base import TfsoEvent
from tfso_events.publishing._batching import RetryPolicy
from tfso_events.results import BatchResult, PublishFailure

__all__ = ["run_publish"]

#: Errors that will fail every later event too: stop rather than go through the file.
_HOPELESS = (AuthenticationError, ConfigurationError)

#: Failures printed one per line when they also go to --failed-out; the rest are counted.
_SHOWN = 20


class _Publisher(Protocol):
    """What publish needs of either async client."""

    async def publish_many(
        self, events: Iterable[TfsoEvent], *, raise_on_error: bool = ...
    ) -> BatchResult: ...

    async def aclose(self) -> None: ...


@dataclass(eq=False)
class _Item:
    """A valid record on its way, and whether its outcome is known yet."""

    record: Record
    event: TfsoEvent
    done: bool = False


@dataclass
class _Tally:
    """Counts, and the batch in flight (for what an interruption leaves unconfirmed)."""

    read: int = 0
    done_bytes: int = 0
    sent: int = 0
    failed: int = 0
    invalid: int = 0
    not_json: int = 0
    last_line: int = 0
    in_flight: list[_Item] = field(default_factory=list)
    shown: int = 0
    #: Set when the file was not read to the end: "interrupted" or "stopped", and why.
    stopped: str | None = None
    why: str = ""


def run_publish(args: argparse.Namespace) -> int:
    """Run ``tfso-events publish`` with parsed ``args``; return the exit status."""
    if args.via == "api" and args.bus:
        return _usage("--bus applies to --via eventbridge only")
    if args.via == "eventbridge" and (args.client_id or args.client_secret or args.auth0_domain):
        return _usage("--client-id, --client-secret and --auth0-domain apply to --via api only")
    if args.failed_out and args.file != STDIN and _same_file(args.failed_out, args.file):
        return _usage("--failed-out must not be the input file (it is rewritten)")
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
    with _StopOnSignals() as stop:
        try:
            client, target = _client(args)
        except ConfigurationError as exc:
            return _usage(str(exc))
        try:
            with contextlib.ExitStack() as files:
                failed_out: IO[bytes] | None = None
                if args.failed_out:
                    try:
                        # ASYNC230: one blocking open(), before anything is in flight
                        failed_out = files.enter_context(open(args.failed_out, "wb"))  # noqa: ASYNC230
                    except OSError as exc:
                        return _usage(f"cannot write {args.failed_out}: {exc.strerror or exc}")
                return await _run(args, client, target, records, failed_out, stop)
        finally:
            await client.aclose()


async def _run(
    args: argparse.Namespace,
    client: _Publisher,
    target: str,
    records: RecordFile,
    failed_out: IO[bytes] | None,
    stop: _StopOnSignals,
) -> int:
    tally = _Tally()
    started = time.monotonic()
    with Progress(f"publish via {args.via}", total=records.size) as progress:
        work = asyncio.ensure_future(
            _publish_all(args, client, iter(records), tally, failed_out, progress)
        )
        with stop.cancelling(work):
            await asyncio.wait({work})
    error = None if work.cancelled() else work.exception()
    if isinstance(error, ConfigurationError):  # e.g. the client refused to open
        return _usage(str(error))
    if work.cancelled():
        tally.stopped = "interrupted"
    elif error is not None:
        tally.stopped, tally.why = "stopped", f"by an unexpected {type(error).__name__}"
    if tally.stopped:
        _unconfirmed(tally, failed_out)
    _summary(args, tally, target, time.monotonic() - started)
    if error is not None:
        raise error  # a bug: what was sent is reported above, and now the traceback
    if work.cancelled():
        return 130
    return 1 if tally.failed or tally.invalid or tally.stopped else 0


def _client(args: argparse.Namespace) -> tuple[_Publisher, str]:
    """The async publisher the options describe, and where it sends (for the summary)."""
    from tfso_events.environments import resolve_credentials, resolve_environment

    retry = RetryPolicy(max_attempts=args.max_attempts, deadline=args.retry_deadline or None)
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
    """Ctrl-C or SIGTERM (what a container orchestrator sends) cancels the work in
    :meth:`cancelling` once, or, if it comes before any, cancels it as soon as it
    starts; a second signal interrupts (Ctrl-C) or terminates (SIGTERM) as usual."""

    signals = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signalled = False
        self._work: asyncio.Future[Any] | None = None

    def __enter__(self) -> _StopOnSignals:
        self._loop = asyncio.get_running_loop()
        for signum in self.signals:
            self._loop.add_signal_handler(signum, self._stop)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._remove()

    def _remove(self) -> None:
        for signum in self.signals:
            self._loop.remove_signal_handler(signum)

    def _stop(self) -> None:
        print("\ntfso-events publish: stopping (Ctrl-C again to abort)", file=sys.stderr)
        self._remove()
        self.signalled = True
        if self._work is not None:
            self._work.cancel()

    @contextlib.contextmanager
    def cancelling(self, work: asyncio.Future[Any]) -> Iterator[None]:
        """Signals cancel ``work`` while in this block (at once if one came already)."""
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
    failed_out: IO[bytes] | None,
    progress: Progress,
) -> None:
    batch: list[_Item] = []
    for record in records:
        tally.read += 1
        tally.last_line = record.line
        tally.done_bytes = record.end
        problem = record.error
        if record.raw is not None:
            try:
                batch.append(_Item(record, to_event(record.raw)))
            except EventValidationError as exc:
                problem = _problem(exc)
        if problem is not None:
            tally.invalid += 1
            tally.not_json += record.raw is None
            _report(tally, failed_out, record, f"invalid: {problem}")
        if len(batch) >= args.batch_size:
            await _send(client, batch, tally, failed_out)
            batch = []
            _progress(progress, tally)
            if tally.stopped:
                return
    if batch:
        await _send(client, batch, tally, failed_out)
    _progress(progress, tally)


def _progress(progress: Progress, tally: _Tally) -> None:
    progress.update(
        tally.read, tally.done_bytes, sent=tally.sent, failed=tally.failed, invalid=tally.invalid
    )


async def _send(
    client: _Publisher, items: list[_Item], tally: _Tally, failed_out: IO[bytes] | None
) -> None:
    tally.in_flight = items
    errors: list[Exception] = []
    await _publish_many(client, items, tally, failed_out, errors)
    tally.in_flight = []
    if len(errors) == len(items) and all(isinstance(e, _HOPELESS) for e in errors):
        # Every event refused for the credentials or the setup: the next batch would be
        # too, and would only hammer Auth0. Stop; the rest of the file is left unread.
        tally.stopped = "stopped"
        tally.why = f"every event of the last batch failed ({errors[-1]})"


async def _publish_many(
    client: _Publisher,
    items: Sequence[_Item],
    tally: _Tally,
    failed_out: IO[bytes] | None,
    errors: list[Exception],
) -> None:
    try:
        result: BatchResult = await client.publish_many(
            [item.event for item in items], raise_on_error=False
        )
    except EventValidationError as exc:
        # A check only the publisher makes (EventBridge's size limits) refused the whole
        # call before anything was sent: halve it until the culprit stands alone.
        if len(items) == 1:
            (item,) = items
            item.done = True
            tally.invalid += 1
            _report(tally, failed_out, item.record, f"invalid: {_problem(exc)}")
            return
        middle = len(items) // 2
        await _publish_many(client, items[:middle], tally, failed_out, errors)
        await _publish_many(client, items[middle:], tally, failed_out, errors)
        return
    for item, outcome in zip(items, result.results, strict=True):
        item.done = True
        if isinstance(outcome, PublishFailure):
            tally.failed += 1
            errors.append(outcome.error)
            _report(tally, failed_out, item.record, f"failed: {outcome.reason}")
        else:
            tally.sent += 1


def _problem(exc: EventValidationError) -> str:
    what = f"{exc.detail_type} " if exc.detail_type else ""
    return f"{what}{exc.path}: {exc.reason}"


def _report(tally: _Tally, failed_out: IO[bytes] | None, record: Record, reason: str) -> None:
    """Print a bad record (all of them without --failed-out, else the first few) and
    write it to --failed-out."""
    if failed_out is not None and record.raw is not None:
        failed_out.write(failed_record(record.raw, reason))
    tally.shown += 1
    if failed_out is None or tally.shown <= _SHOWN:
        print(f"{record.where}: {reason}", file=sys.stderr)
    elif tally.shown == _SHOWN + 1:
        print(
            "tfso-events publish: more failures are written to --failed-out only",
            file=sys.stderr,
        )


def _unconfirmed(tally: _Tally, failed_out: IO[bytes] | None) -> None:
    """After a stop: the batch in flight has no confirmed outcome. Those records may or
    may not have arrived; they go to --failed-out so none is lost."""
    left = [item for item in tally.in_flight if not item.done]
    if failed_out is not None:
        for item in left:
            assert item.record.raw is not None
            failed_out.write(
                failed_record(item.record.raw, "interrupted before delivery was confirmed")
            )
    tally.in_flight = left


def _summary(args: argparse.Namespace, tally: _Tally, target: str, elapsed: float) -> None:
    rate = tally.sent / elapsed if elapsed > 0 else 0.0
    name = "<stdin>" if args.file == STDIN else args.file
    counts = (
        f"{tally.sent} sent, {tally.failed} failed, {tally.invalid} invalid of "
        f"{counted(tally.read, 'record')} from {name} via {target} in {elapsed:.1f} s "
        f"({rate:.0f} events/s)"
    )
    if tally.stopped:
        unconfirmed = len(tally.in_flight)
        in_flight = (
            f"; {unconfirmed} in flight unconfirmed (they may have arrived)"
            + (", written to " + args.failed_out if args.failed_out else "")
            if unconfirmed
            else ""
        )
        why = f", {tally.why}" if tally.why else ""
        print(
            f"publish: {tally.stopped} after line {tally.last_line}{why}: {counts}{in_flight}; "
            f"lines after {tally.last_line} were not read"
        )
    else:
        print(f"publish: {counts}")
    bad = tally.failed + tally.invalid + len(tally.in_flight)
    if args.failed_out and bad:
        note = " (lines that are not JSON are only listed above)" if tally.not_json else ""
        print(
            f"publish: failed and invalid records written to {args.failed_out}, ready to "
            f"resend{note}"
        )
