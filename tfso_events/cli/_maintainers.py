"""``tfso-events docs``, ``codegen`` and ``compat``: the maintainers' commands.

They work on a checkout of this project: its schemas, its models, its event pages. A
checkout is a directory with ``tfso_events/schemas/`` and a ``pyproject.toml`` naming
``tfso-events``; by default it is the one the running package was imported from (an
editable install, ``python -m`` in the repository), never the current directory. An
installed package has none, so outside a checkout they refuse (exit 2) and say how to
run them, rather than write into whatever folder the command was typed in. ``docs
--out DIR`` and ``codegen --root DIR`` name the place explicitly.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tfso_events.cli._app import arg, command

__all__ = ["checkout_root", "codegen", "compat", "docs"]

_CLONE = (
    "run it in a checkout of the tfso-events repository (git clone, then "
    "`make generate` / `make docs` there)"
)


def _is_checkout(root: Path) -> bool:
    pyproject = root / "pyproject.toml"
    if not (root / "tfso_events" / "schemas").is_dir() or not pyproject.is_file():
        return False
    try:
        text = pyproject.read_text(encoding="utf-8")
    except OSError:
        return False
    return 'name = "tfso-events"' in text


def checkout_root(given: str | None = None) -> Path | None:
    """The checkout to work on: ``given`` when it is one, else the one this package was
    imported from; ``None`` when there is none (an installed package)."""
    if given is not None:
        root = Path(given).resolve()
        return root if _is_checkout(root) else None
    import tfso_events

    root = Path(tfso_events.__file__).resolve().parent.parent
    return root if _is_checkout(root) else None


def _refuse(name: str, what: str) -> int:
    print(f"tfso-events {name}: {what}; {_CLONE}", file=sys.stderr)
    return 2


# -- docs ----------------------------------------------------------------------------------


@command(
    "docs",
    help="[maintainers] regenerate a checkout's event pages (docs/events/) from the models",
    arguments=[
        arg(
            "--out",
            metavar="DIR",
            default=None,
            help="write them here instead (default: docs/events of this checkout)",
        )
    ],
)
def docs(args: argparse.Namespace) -> int:
    """Write one Markdown page per event (fields, types, requiredness, enumerated values
    and a sample) and an index, in the seed documentation's form, into docs/events/ of
    the tfso-events checkout this package runs from, or into --out DIR.

    Outside a checkout (an installed package) it refuses without --out: it never writes
    into the current directory unless asked to.
    """
    from tfso_events.cli._docgen import write_event_docs

    if args.out is not None:
        out = Path(args.out)
    else:
        root = checkout_root()
        if root is None:
            return _refuse(
                "docs",
                "the event pages belong to a checkout of tfso-events, and this package is "
                "installed, not a checkout; pass --out DIR to write them somewhere you choose",
            )
        out = root / "docs" / "events"
    written = write_event_docs(out)
    for path in written:
        print(path)
    print(f"docs: {len(written)} pages written to {out}")
    return 0


# -- codegen and compat (development tools; the logic lives in tfso_events._codegen) -------


@command(
    "codegen",
    help="[maintainers] generate the models, constants, examples, vectors and event pages "
    "from a checkout's schemas",
    arguments=[
        arg("--check", action="store_true", help="change nothing; exit 1 if anything is stale"),
        arg(
            "--root",
            metavar="DIR",
            default=None,
            help="the checkout (default: the one this package runs from)",
        ),
    ],
)
def codegen(args: argparse.Namespace) -> int:
    """Generate, from tfso_events/schemas/*.json, the model modules, constants.py, the
    catalog registration, examples.py, tests/vectors/*.json and docs/events/*.md.

    With --check nothing is written: exit 1 and name every file that differs from what
    the schemas give (a hand edit, or a schema edited without regenerating). It works on
    the checkout this package runs from (or --root DIR) and refuses outside one (exit 2).
    """
    from tfso_events._codegen import CodegenError, run

    root = checkout_root(args.root)
    if root is None:
        where = f"{args.root} is" if args.root else "this package is installed,"
        return _refuse(
            "codegen",
            f"{where} not a checkout of tfso-events (tfso_events/schemas/ and its pyproject.toml)",
        )
    try:
        outcome = run(root, check=args.check)
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
    help="[maintainers] classify the change between two versions of an event schema",
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
    @vN detail-type), 2 when a file cannot be read or this is not a checkout of
    tfso-events.
    """
    import json

    from tfso_events._codegen.compat import compare, next_version

    if checkout_root() is None:
        return _refuse(
            "compat",
            "schema changes are made, and classified, in a checkout of tfso-events",
        )

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
