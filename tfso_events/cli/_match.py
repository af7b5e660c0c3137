"""``tfso-events match``: which events an EventBridge pattern matches, and why the others
do not."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tfso_events.cli._app import arg, command

__all__ = ["match"]


@command(
    "match",
    help="which events an EventBridge pattern matches, and why the others do not",
    arguments=[
        arg(
            "pattern",
            metavar="PATTERN",
            help="the event pattern: a JSON file, or the JSON itself ('{\"source\": [...]}')",
        ),
        arg(
            "files",
            nargs="*",
            metavar="EVENTS",
            help="JSON or NDJSON files of events (default: - for stdin)",
        ),
        arg("-q", "--quiet", action="store_true", help="print only the summary line"),
        arg(
            "--only",
            choices=["matching", "failing"],
            help="print only the events that match, or only those that do not",
        ),
    ],
)
def match(args: argparse.Namespace) -> int:
    """Match every event of each EVENTS file against PATTERN, as EventBridge would.

    PATTERN is a file holding the pattern, or the pattern's JSON text. An event is an
    EventBridge envelope (what a rule sees), or an events API body ({"source",
    "detailType", "detail"}: matched as the envelope it becomes). Each event is printed
    as FILE:LINE: match, or FILE:LINE: no match and the reason: the field's path, the
    value found and the pattern it failed, one line per $or branch.

    Exit status: 0 when at least one event matches, 1 when none does, 2 when the
    pattern is invalid or a file cannot be read.
    """
    from tfso_events.cli._console import counted
    from tfso_events.cli._records import RecordFile
    from tfso_events.errors import InvalidPatternError
    from tfso_events.patterns import compile_pattern

    try:
        compiled = compile_pattern(_pattern_text(args.pattern))
    except OSError as exc:
        print(
            f"tfso-events match: cannot read {args.pattern}: {exc.strerror or exc}", file=sys.stderr
        )
        return 2
    except InvalidPatternError as exc:
        print(f"tfso-events match: {exc}", file=sys.stderr)
        return 2
    matched = failed = 0
    unreadable = False
    for path in args.files or ["-"]:
        try:
            records = RecordFile(path)
        except OSError as exc:
            print(f"tfso-events match: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
            unreadable = True
            continue
        for record in records:
            if record.raw is None:
                reason: str | None = f"not JSON: {record.error}"
            else:
                reason = compiled.explain(_as_envelope(record.raw))
            if reason is None:
                matched += 1
                if not args.quiet and args.only != "failing":
                    print(f"{record.where}: match")
                continue
            failed += 1
            if not args.quiet and args.only != "matching":
                first, *rest = reason.splitlines()
                print(f"{record.where}: no match: {first}")
                for line in rest:
                    print(f"    {line}")
    total = counted(matched + failed, "event")
    print(f"match: {total}: {matched} match, {failed} do not")
    if unreadable:
        return 2
    return 0 if matched else 1


def _pattern_text(given: str) -> str | bytes:
    """The pattern's JSON: ``given`` itself when it looks like JSON, else a file's."""
    if given.lstrip().startswith("{"):
        return given
    return Path(given).read_bytes()


def _as_envelope(raw: bytes) -> Any:
    """An events API body becomes the envelope it is delivered in; anything else is
    matched as it is (the matcher says why what is not an object cannot match)."""
    import msgspec

    try:
        document = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return raw
    if isinstance(document, dict) and "detail-type" not in document and "detailType" in document:
        envelope = {k: v for k, v in document.items() if k != "detailType"}
        envelope["detail-type"] = document["detailType"]
        return envelope
    return document
