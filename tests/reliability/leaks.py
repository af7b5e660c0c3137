"""What a leaked credential looks like, and a log handler that watches for one.

Used suite-wide by ``tests/conftest.py`` (every log record of the whole run, every
logger at DEBUG) and by ``test_secrets.py`` (every text an error can
show: ``str``, ``repr``, the ``__cause__``/``__context__`` chain, the formatted traceback).

A leak is any of:

* a JSON Web Token (``eyJ...`` header ``.`` ``eyJ...`` payload ``.`` signature), which is
  what every access token the local hub or Auth0 issues looks like;
* a token of the ``tests/api`` stub (``tok-<n>-<16 hex>``);
* a client secret the suite uses: the hub's default ``local-secret`` (the docs' blocks
  publish with it), the recognisable secrets of ``tests/api`` and of this folder, and any
  added with :func:`watch_secret`.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = [
    "SECRETS",
    "TOKEN_PATTERNS",
    "Leak",
    "LeakWatch",
    "find_leaks",
    "watch_logs",
    "watch_secret",
]

#: Client secrets used across the suite (a leak of any of them is a failure).
SECRETS: set[str] = {
    "local-secret",  # the hub's ready client (tfso_events.local.DEFAULT_CLIENT_SECRET)
    "s3cr3t-DO-NOT-LEAK-7f1c",  # tests/api (the Auth0 stub's client)
    "very-secret-value",  # tests/api/test_auth_policy.py
    "leaky-secret-5e1d",  # tests/api/test_api_hub.py
    "rel-secret-0b5e9c",  # tests/reliability
}

#: Shapes of access tokens: a JWT (the hub's and Auth0's), the tests/api stub's tokens.
TOKEN_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"),
    re.compile(r"\btok-\d+-[0-9a-f]{16}\b"),
)

_lock = threading.Lock()


def watch_secret(secret: str) -> str:
    """Add ``secret`` to the values no log record may contain; returns it."""
    with _lock:
        SECRETS.add(secret)
    return secret


def find_leaks(text: str, extra: Iterable[str] = ()) -> list[str]:
    """The secrets and token-shaped strings in ``text`` (each token cut to 20 chars)."""
    with _lock:
        secrets = SECRETS | {s for s in extra if s}
    found = [f"credential {s[:3]}***" for s in sorted(secrets) if s in text]
    for pattern in TOKEN_PATTERNS:
        found += [f"token {m.group()[:20]}..." for m in pattern.finditer(text)]
    return found


@dataclass(frozen=True, slots=True)
class Leak:
    """A log record that showed a credential: which ``test`` was running, which
    ``logger``, and ``what`` was found."""

    test: str
    logger: str
    what: tuple[str, ...]


class LeakWatch(logging.Handler):
    """A handler that checks each record's message, traceback and stack as it arrives
    and keeps only the records that leak (so a long run costs no memory)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records = 0
        self.leaks: list[Leak] = []
        self._texts = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            texts = [record.getMessage()]
        except Exception as exc:  # a broken format string must not hide the args
            texts = [f"{record.msg!r} % {record.args!r} ({exc!r})"]
        if record.exc_info:
            texts.append(self._texts.formatException(record.exc_info))
        if record.exc_text:
            texts.append(record.exc_text)
        if record.stack_info:
            texts.append(record.stack_info)
        found = find_leaks("\n".join(texts))
        self.records += 1
        if found:
            test = os.environ.get("PYTEST_CURRENT_TEST", "(outside a test)")
            self.leaks.append(Leak(test, record.name, tuple(found)))

    def report(self) -> str:
        """One line per leaking record."""
        lines = [f"{len(self.leaks)} of {self.records} log records show a secret or token:"]
        lines += [f"  {leak.test} [{leak.logger}]: {', '.join(leak.what)}" for leak in self.leaks]
        return "\n".join(lines)


@contextmanager
def watch_logs(logger: str = "tfso_events") -> Iterator[LeakWatch]:
    """Attach a :class:`LeakWatch` to the root logger and turn ``logger`` up to DEBUG
    (so every record the library can emit is produced and checked; ``""`` is the root:
    every logger); undone on exit."""
    watch = LeakWatch()
    root = logging.getLogger()
    ours = logging.getLogger(logger)
    level = ours.level
    ours.setLevel(logging.DEBUG)
    root.addHandler(watch)
    try:
        yield watch
    finally:
        root.removeHandler(watch)
        ours.setLevel(level)
