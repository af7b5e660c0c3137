"""Every botocore client the package creates, and keeping AWS credentials out of
botocore's DEBUG logs.

With ``logging.basicConfig(level=logging.DEBUG)`` botocore logs every request it sends
(``botocore.endpoint``: "Sending http request", headers included) and what it signs
(``botocore.auth``: the canonical request): both hold the ``X-Amz-Security-Token``, the
session token of temporary credentials. :class:`AwsSecretsFilter`, installed on those
loggers, replaces the token (and the secret access key, should it ever appear) with
``***``.

The filter is installed by :func:`open_client`, the one way the package creates a
botocore client (the EventBridge publisher, the DynamoDB dedupe store, any later one):
whichever of them a process uses first, alone, its requests are already redacted. Turn
it off with :func:`redact_botocore_logs` ``(False)`` (public as
``tfso_events.publishing.eventbridge.redact_botocore_logs``). aioboto3 is imported by the
callers, never here: importing this module costs nothing.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    import aioboto3

__all__ = ["BOTOCORE_LOGGERS", "AwsSecretsFilter", "open_client", "redact_botocore_logs"]

#: The botocore loggers whose DEBUG records carry signed request material.
BOTOCORE_LOGGERS = ("botocore.endpoint", "botocore.auth")

# A security-token header or canonical-request line: the value up to a quote, comma,
# brace or whitespace ("X-Amz-Security-Token': b'<token>'", "x-amz-security-token:<token>").
_TOKEN_FIELD = re.compile(
    r"""(x-amz-security-token['"]?\s*[:=]\s*b?['"]?)([^'"\s,}]+)""", re.IGNORECASE
)


class AwsSecretsFilter(logging.Filter):
    """Rewrites a record whose message shows a session token or a known secret."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._values: frozenset[str] = frozenset()

    def remember(self, *values: str | None) -> None:
        """Also mask these exact values (the session token and secret key in use)."""
        with self._lock:
            self._values = self._values | {v for v in values if v and len(v) >= 8}

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is logging's problem to report, not ours
            return True
        masked = _TOKEN_FIELD.sub(r"\1***", message)
        for value in self._values:
            masked = masked.replace(value, "***")
        if masked != message:
            record.msg, record.args = masked, None
        return True


FILTER = AwsSecretsFilter()
_enabled = True


def redact_botocore_logs(enabled: bool = True) -> None:
    """Install (default) or remove the filter on :data:`BOTOCORE_LOGGERS`. Removing it
    makes the next clients leave botocore's logs as they are (for debugging signing)."""
    global _enabled
    _enabled = enabled
    for name in BOTOCORE_LOGGERS:
        logger = logging.getLogger(name)
        if enabled:
            if FILTER not in logger.filters:
                logger.addFilter(FILTER)
        else:
            logger.removeFilter(FILTER)


def install(*values: str | None) -> None:
    """Remember these credentials and install the filter, unless
    :func:`redact_botocore_logs` turned it off."""
    FILTER.remember(*values)
    if _enabled:
        redact_botocore_logs(True)


async def open_client(
    stack: contextlib.AsyncExitStack,
    session: aioboto3.Session,
    service_name: str,
    **options: Any,
) -> tuple[Any, Any]:
    """Create ``service_name``'s client on ``session`` inside ``stack`` (closed with it),
    with botocore's logs redacted before its first request: the filter is installed
    before the client exists, and the credentials it resolved (the session token and the
    secret key) are remembered before it returns. ``options`` go to
    ``session.client()`` (``region_name``, ``endpoint_url``, ``config``).

    Returns the client and its credentials (``None`` when the AWS credential chain
    found none: every call would then fail signing, which the caller reports).
    """
    install()
    client = await stack.enter_async_context(session.client(service_name, **options))  # type: ignore[call-overload]
    # aioboto3 hands back aiobotocore's coroutine; its type stubs say otherwise.
    credentials = await cast("Awaitable[Any]", session.get_credentials())
    if credentials is not None:
        frozen = await credentials.get_frozen_credentials()
        install(frozen.token, frozen.secret_key)
    return client, credentials
