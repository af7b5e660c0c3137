"""``tfso-events list``, ``schema`` and ``validate``: the event catalog, read from the
command line."""

from __future__ import annotations

import argparse
import sys

from tfso_events.cli._app import arg, command

__all__ = ["list_", "schema", "validate"]


# -- list ----------------------------------------------------------------------------------


@command(
    "list",
    help="list the event catalog: detail-type, source, module and class",
    arguments=[arg("--json", action="store_true", help="print a JSON array instead of a table")],
)
def list_(args: argparse.Namespace) -> int:
    """List every event this version knows: its detail-type, source, module (also its
    Auth0 scope and the middle of its bus name tfso-{module}-events) and the Python class
    to import. A rich table on a terminal when rich is installed, plain text otherwise.
    """
    from tfso_events.catalog import event_classes

    rows = [
        {
            "detailType": cls.detail_type,
            "source": cls.source,
            "module": cls.module,
            "class": f"{cls.__module__}.{cls.__name__}",
        }
        for cls in event_classes()
    ]
    if args.json:
        import json

        print(json.dumps(rows, indent=2))
        return 0
    from tfso_events.cli._console import print_table

    print_table(
        ["detail-type", "source", "module", "class"],
        [list(row.values()) for row in rows],
        keep=[0, 3],  # the detail-type and the class: the values a user copies
    )
    return 0


# -- schema --------------------------------------------------------------------------------


@command(
    "schema",
    help="print the JSON Schema of an event's detail",
    arguments=[arg("detail_type", metavar="DETAIL_TYPE", help="e.g. bank.test:created@v1")],
)
def schema(args: argparse.Namespace) -> int:
    """Print the JSON Schema (draft 2020-12) of the detail of DETAIL_TYPE: content,
    timestamp and metadata, with every field's type, requiredness and description.

    An unknown detail-type exits 2 and lists the known ones.
    """
    import json

    from tfso_events.catalog import event_class, event_classes, event_schema
    from tfso_events.errors import UnknownEventTypeError

    try:
        cls = event_class(args.detail_type)
    except UnknownEventTypeError:
        known = "\n".join(f"  {cls.detail_type}" for cls in event_classes())
        print(
            f"tfso-events schema: unknown detail-type {args.detail_type!r}; known:\n{known}",
            file=sys.stderr,
        )
        return 2
    print(json.dumps(event_schema(cls), indent=2, ensure_ascii=False))
    return 0


# -- validate ------------------------------------------------------------------------------


@command(
    "validate",
    help="check JSON or NDJSON files of events against the catalog",
    arguments=[
        arg("files", nargs="+", metavar="FILE", help="JSON or NDJSON files (- for stdin)"),
        arg("-q", "--quiet", action="store_true", help="print only the summary line"),
    ],
)
def validate(args: argparse.Namespace) -> int:
    """Check every record of each FILE against the catalog, as a publisher would.

    A file is one JSON object, a JSON array of objects, or NDJSON (one object per line).
    A record is an EventBridge envelope (it has "detail-type") or an events API body
    ({"source", "detailType", "detail"}); other keys are ignored. Each bad record is
    printed as FILE:LINE: DETAIL-TYPE JSON-PATH: REASON; a line that is not JSON is
    reported by its line and the following lines are still checked.

    Exit status: 0 when every record is valid, 1 when any is not, 2 when a file cannot
    be read.
    """
    from tfso_events.cli._records import RecordFile, to_event
    from tfso_events.errors import EventValidationError

    valid = invalid = 0
    unreadable = False
    for path in args.files:
        try:
            records = RecordFile(path)
        except OSError as exc:
            print(
                f"tfso-events validate: cannot read {path}: {exc.strerror or exc}",
                file=sys.stderr,
            )
            unreadable = True
            continue
        for record in records:
            problem = record.error
            if record.raw is not None:
                try:
                    to_event(record.raw)
                except EventValidationError as exc:
                    problem = _problem(exc)
            if problem is None:
                valid += 1
                continue
            invalid += 1
            if not args.quiet:
                print(f"{record.where}: {problem}")
    from tfso_events.cli._console import counted

    files = counted(len(args.files), "file")
    total = counted(valid + invalid, "record")
    print(f"validate: {total} in {files}: {valid} valid, {invalid} invalid")
    if unreadable:
        return 2
    return 1 if invalid else 0


def _problem(exc: Exception) -> str:
    """One line for a bad record: ``detail-type $.path: reason`` (what is known of it)."""
    from tfso_events.errors import EventValidationError

    if not isinstance(exc, EventValidationError):
        return str(exc)
    what = f"{exc.detail_type} " if exc.detail_type else ""
    return f"{what}{exc.path}: {exc.reason}"
