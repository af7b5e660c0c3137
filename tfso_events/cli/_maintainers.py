"""``tfso-events docs``, ``codegen`` and ``compat``: the maintainers' commands, which
work on a checkout of this project (the schemas, the models, the event pages)."""

from __future__ import annotations

import argparse
import sys

from tfso_events.cli._app import arg, command

__all__ = ["codegen", "compat", "docs"]


# -- docs ----------------------------------------------------------------------------------


@command(
    "docs",
    help="regenerate the event pages (docs/events/) from the models",
    arguments=[
        arg(
            "--out",
            metavar="DIR",
            default="docs/events",
            help="where to write them (default: %(default)s)",
        )
    ],
)
def docs(args: argparse.Namespace) -> int:
    """Write one Markdown page per event (fields, types, requiredness, enumerated values
    and a sample) and an index, in the seed documentation's form."""
    from pathlib import Path

    from tfso_events.cli._docgen import write_event_docs

    written = write_event_docs(Path(args.out))
    for path in written:
        print(path)
    print(f"docs: {len(written)} pages written to {args.out}")
    return 0


# -- codegen and compat (development tools; the logic lives in tfso_events._codegen) -------


@command(
    "codegen",
    help="generate the models, constants, examples, vectors and event pages from the schemas",
    arguments=[
        arg("--check", action="store_true", help="change nothing; exit 1 if anything is stale"),
        arg("--root", metavar="DIR", default=".", help="the project root (default: %(default)s)"),
    ],
)
def codegen(args: argparse.Namespace) -> int:
    """Generate, from tfso_events/schemas/*.json, the model modules, constants.py, the
    catalog registration, examples.py, tests/vectors/*.json and docs/events/*.md.

    With --check nothing is written: exit 1 and name every file that differs from what
    the schemas give (a hand edit, or a schema edited without regenerating).
    """
    from pathlib import Path

    from tfso_events._codegen import CodegenError, run

    try:
        outcome = run(Path(args.root), check=args.check)
    except CodegenError as exc:
        print(f"tfso-events codegen: {exc}", file=sys.stderr)
        return 2
    changed = [*outcome.stale, *outcome.obsolete]
    if args.check:
        for rel in outcome.stale:
            print(f"stale: {rel}", file=sys.stderr)
        for rel in outcome.obsolete:
            print(f"obsolete (no schema generates it): {rel}", file=sys.stderr)
        if changed:
            print(
                f"codegen --check: {len(changed)} file(s) differ from the schemas; "
                "run `make generate` (tfso-events codegen)",
                file=sys.stderr,
            )
            return 1
        print("codegen --check: every generated file is current")
        return 0
    for rel in outcome.stale:
        print(f"wrote {rel}")
    for rel in outcome.obsolete:
        print(f"removed {rel}")
    print(f"codegen: {len(changed)} file(s) changed")
    return 0


@command(
    "compat",
    help="classify the change between two versions of an event schema",
    arguments=[
        arg("old", metavar="OLD.json", help="the published version"),
        arg("new", metavar="NEW.json", help="the edited version"),
    ],
)
def compat(args: argparse.Namespace) -> int:
    """Compare two versions of one event's schema and list every change as compatible
    (an optional field added, a description changed) or breaking (a field removed or
    renamed, optional → required, a type changed, an enum value removed or added).

    Exits 0 when every change is compatible, 1 when one breaks (it then needs a new
    @vN detail-type), 2 when a file cannot be read.
    """
    import json

    from tfso_events._codegen.compat import compare, next_version

    docs = []
    for name in (args.old, args.new):
        try:
            with open(name, encoding="utf-8") as handle:
                docs.append(json.load(handle))
        except (OSError, ValueError) as exc:
            print(f"tfso-events compat: cannot read {name}: {exc}", file=sys.stderr)
            return 2
    old, new = docs
    changes = compare(old, new)
    for change in changes:
        print(change)
    breaking = [change for change in changes if change.breaking]
    detail_type = str(old.get("x-detail-type") or old.get("title") or "the detail-type")
    if breaking:
        print(
            f"breaking: {len(breaking)} change(s) break consumers of {detail_type}; publish "
            f"them as a new detail-type, {next_version(detail_type)}, and keep "
            f"{detail_type} as it is"
        )
        return 1
    print(f"compatible: consumers of {detail_type} read the new version ({len(changes)} change(s))")
    return 0
