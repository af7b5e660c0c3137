"""The public API is a deliberate list, and importing it is cheap (cold start)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import tfso_events

EXPECTED = [
    "AuthenticationDeliveryError",
    "AuthenticationError",
    "AuthenticationPublishError",
    "BatchResult",
    "CatalogEvent",
    "Claim",
    "ConfigurationDeliveryError",
    "ConfigurationError",
    "ConfigurationPublishError",
    "DedupeKeyHeldError",
    "DedupeStore",
    "DeliveryError",
    "DetailTypes",
    "DynamoDBDedupeStore",
    "EventContent",
    "EventDetail",
    "EventPattern",
    "EventRouter",
    "EventTooLargeError",
    "EventValidationDeliveryError",
    "EventValidationError",
    "EventValidationPublishError",
    "InvalidPatternError",
    "LambdaEventError",
    "LocalHub",
    "MemoryDedupeStore",
    "PublishError",
    "PublishFailure",
    "PublishResult",
    "Publisher",
    "RecordContext",
    "RetryPolicy",
    "SyncPublisher",
    "TfsoEvent",
    "TfsoEventApiClient",
    "TfsoEventBridgeClient",
    "TfsoEventsError",
    "TfsoModules",
    "TfsoSources",
    "UnhandledEventError",
    "UnknownEvent",
    "UnknownEventTypeError",
    "__version__",
    "detail_filter",
    "event_class",
    "event_classes",
    "event_pattern",
    "event_schema",
    "events",  # deprecated alias of event_classes, kept for one release
    "parse_event",
    "validate_body",
]


def test_exported_names_are_the_deliberate_list() -> None:
    """tfso_events.__all__ is exactly the documented public API, sorted."""
    assert tfso_events.__all__ == EXPECTED
    assert sorted(tfso_events.__all__) == tfso_events.__all__


def test_every_exported_name_resolves_and_is_documented() -> None:
    """Each public name can be imported and (except the version) has a docstring."""
    for name in tfso_events.__all__:
        value = getattr(tfso_events, name)
        if name != "__version__":
            assert (value.__doc__ or "").strip(), name


def test_error_hierarchy() -> None:
    """Every error derives from TfsoEventsError; validation errors are also ValueErrors."""
    assert issubclass(tfso_events.EventValidationError, ValueError)
    assert issubclass(tfso_events.ConfigurationError, ValueError)
    for name in tfso_events.__all__:
        value = getattr(tfso_events, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, tfso_events.TfsoEventsError), name
    assert issubclass(tfso_events.UnknownEventTypeError, tfso_events.EventValidationError)
    assert issubclass(tfso_events.DeliveryError, tfso_events.PublishError)
    assert issubclass(tfso_events.LambdaEventError, tfso_events.EventValidationError)


COLD_START = """
import json, sys
import tfso_events
from tfso_events import parse_event
event = parse_event(b'{"detail-type":"bank.transaction:deleted@v1","source":"s","detail":'
    b'{"content":{"transactionId":"t","license":"l","status":{"text":"posted","code":1}},'
    b'"timestamp":"2024-01-01T00:00:00Z","metadata":{}}}')
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"aioboto3", "aiobotocore",
    "botocore", "boto3", "aiohttp", "authlib", "joserfc", "cryptography"})
print(json.dumps({"heavy": heavy, "type": type(event).__name__}))
"""


def test_cold_start_imports_no_io_stack() -> None:
    """import tfso_events + parse_event loads none of aioboto3, botocore, aiohttp, authlib."""
    out = subprocess.run(
        [sys.executable, "-c", COLD_START], capture_output=True, text=True, check=True
    )
    result = json.loads(out.stdout)
    assert result == {"heavy": [], "type": "BankTransactionDeletedV1Event"}


_WARN = """
import logging
{configure}
import tfso_events
logging.getLogger("tfso_events.publishing").warning("a warning from the library")
"""


@pytest.mark.parametrize("configured", [False, True], ids=["unconfigured", "configured"])
def test_library_warnings_reach_stderr_only_when_the_app_configures_logging(
    configured: bool,
) -> None:
    """The ``tfso_events`` logger has a NullHandler: an unconfigured script's stderr stays
    clean (no last-resort output), while a script that calls ``logging.basicConfig()``
    still sees the warning."""
    configure = "logging.basicConfig()" if configured else ""
    done = subprocess.run(
        [sys.executable, "-c", _WARN.format(configure=configure)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert ("a warning from the library" in done.stderr) is configured, done.stderr


def test_every_third_party_import_is_a_declared_dependency() -> None:
    """Every top-level package the library imports (outside the test kit's optional
    extras) is declared in ``pyproject.toml``'s dependencies: ``joserfc`` is imported by
    the local hub and must not arrive only by accident through another package. The
    outbox (tfso_events/outbox, cli/_outbox.py) may import its extra's packages too, and
    nothing else does."""
    import ast
    import tomllib

    root = Path(__file__).resolve().parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]

    def names(deps: list[str]) -> set[str]:
        return {re.split(r"[<>=\\[ ]", dep, maxsplit=1)[0].lower() for dep in deps}

    declared = names(project["dependencies"])
    outbox_extra = names(project["optional-dependencies"]["outbox"])
    optional = {
        "rich",
        "hypothesis",
        "pytest",
        "_pytest",
        "moto",
        "boto3",
        "types_aiobotocore_events",
        "opentelemetry",  # the extra [otel]: tfso_events.telemetry loads it on first use
    }
    stdlib = set(sys.stdlib_module_names)
    imported: set[str] = set()
    by_outbox: set[str] = set()
    for path in (root / "tfso_events").rglob("*.py"):
        outbox = "outbox" in path.relative_to(root / "tfso_events").parts or path.name == (
            "_outbox.py"
        )
        found = by_outbox if outbox else imported
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module.split(".")[0])
    assert "sqlalchemy" in by_outbox
    assert by_outbox - stdlib - declared - {"tfso_events"} <= outbox_extra
    # types_* stubs are imported under TYPE_CHECKING only
    third_party = {m for m in imported - stdlib - optional if not m.startswith("types_")}
    third_party.discard("tfso_events")
    aliases = {"aiobotocore": "aioboto3", "botocore": "aioboto3"}
    missing = {m for m in third_party if aliases.get(m, m).lower() not in declared}
    assert "joserfc" in third_party
    assert missing == set(), missing
