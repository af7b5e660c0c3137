"""Bounding what came from outside before it goes into a log line.

A detail-type, a message id, a path, a server's error text: anything a client or a
server sent can be megabytes long or hold line breaks that forge log lines. Every log
call of the package that can carry such input passes it through :func:`clip`, which
keeps one line of at most :data:`MAX_LOGGED_CHARS` characters and notes the full length.
Loads nothing beyond the standard library (the consume router uses it).
"""

from __future__ import annotations

__all__ = ["MAX_LOGGED_CHARS", "clip"]

#: What a log line shows of one value that came from outside, in characters.
MAX_LOGGED_CHARS = 200


def clip(value: object, limit: int = MAX_LOGGED_CHARS) -> str:
    """``value`` as text for a log line: ``str(value)`` with control characters escaped
    (``\\n`` stays two characters, so one value cannot start a forged log line), cut to
    ``limit`` characters with a note of the full length.

    >>> clip("bank.test.created")
    'bank.test.created'
    >>> clip("a\\nb")
    'a\\\\nb'
    >>> clip("x" * 300, 10)
    'xxxxxxxxxx... (300 chars)'
    """
    text = value if isinstance(value, str) else str(value)
    head = text[: limit + 1]  # a megabyte of input costs no more than its first line
    if not head.isprintable():
        head = repr(head)[1:-1]
    if len(head) <= limit:
        return head
    return f"{head[:limit]}... ({len(text)} chars)"
