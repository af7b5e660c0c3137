"""Value tests: one compiled predicate per pattern leaf (the list under a field name).

A leaf such as ``["a", {"prefix": "b"}, {"numeric": [">", 5]}]`` becomes one function
``test(value) -> bool`` that is true when *any* of its alternatives takes the value.
Values are what a JSON decoder gives: ``str``, ``int``, ``float``, ``bool``, ``None``
(objects and arrays never reach a test: they are walked by the matcher).

The semantics are aws/event-ruler's (the engine behind EventBridge):

* a string in a pattern matches only a string (``"5"`` never matches ``5``); a number
  matches a number of the same value (``5`` matches ``5.0`` and ``5e0``); ``true``,
  ``false`` and ``null`` match only themselves (``true`` is not ``1``, ``""`` is not
  ``null``);
* numbers are compared as IEEE-754 doubles; a number a double cannot hold exactly
  (``12345678901234567891``) is compared by its digits instead, and refused by
  ``numeric`` and ``anything-but``;
* ``prefix``, ``suffix``, ``equals-ignore-case``, ``wildcard`` and ``cidr`` take
  strings only; ``numeric`` takes numbers only;
* ``anything-but`` takes every value that is not one it names, of any type (``null``,
  ``true`` and numbers pass ``{"anything-but": "x"}``);
* a string that reads as an IP address (``"10.0.0.1"``, ``"::1"``) matches that
  address however the event writes it (event-ruler turns it into a one-address range).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation

__all__ = [
    "IP_TESTS",
    "Test",
    "as_comparable",
    "ignore_case",
    "ip_of",
    "number_of",
    "wildcard_regex",
]

Test = Callable[[object], bool]

_IPV4 = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")
_IPV6 = re.compile(r"[0-9a-fA-F:]*:[0-9a-fA-F:]*")
# Exactly representable integers: every int in this range is a double without rounding.
_SAFE = 2**53

#: Names of the operators whose test needs the value read as an IP address.
IP_TESTS = frozenset({"cidr", "ip"})


def ip_of(text: str) -> tuple[int, int] | None:
    """``(version, address)`` when ``text`` is an IPv4 or IPv6 address as event-ruler
    reads one (its two regular expressions, then a parse), else ``None``. An
    IPv4-mapped IPv6 address is its IPv4 address (as Java's ``InetAddress`` gives)."""
    if _IPV4.fullmatch(text) is None and _IPV6.fullmatch(text) is None:
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return 4, int(address.ipv4_mapped)
    return address.version, int(address)


def as_comparable(number: int | float | Decimal) -> float | None:
    """The double a number compares as, or ``None`` when a double cannot hold it
    exactly (event-ruler's ``ComparableNumber``: NaN, infinities and numbers with more
    digits than a double are not comparable)."""
    if type(number) is int:
        if -_SAFE <= number <= _SAFE:
            return float(number)
        try:
            as_float = float(number)
        except OverflowError:
            return None
        return as_float if int(as_float) == number else None
    if isinstance(number, float):
        return number if number - number == 0.0 else None
    try:
        as_float = float(number)
    except (OverflowError, ValueError, InvalidOperation):  # pragma: no cover - Decimal
        return None
    if as_float - as_float != 0.0:
        return None
    return as_float if Decimal(repr(as_float)) == number else None


def number_of(value: object) -> float | None:
    """The double ``value`` compares as when it is a comparable JSON number, else
    ``None`` (strings, booleans, null and over-precise numbers)."""
    kind = type(value)
    if kind is float:
        return value if value - value == 0.0 else None  # type: ignore[operator,return-value]
    if kind is int:
        if -_SAFE <= value <= _SAFE:  # type: ignore[operator]
            return float(value)  # type: ignore[arg-type]
        return as_comparable(value)  # type: ignore[arg-type]
    if kind is Decimal:
        return as_comparable(value)  # type: ignore[arg-type]
    return None


def ignore_case(text: str, how: str) -> Callable[[str], bool]:
    """A test of ``equals-ignore-case`` (``how`` ``"equals"``), or of its ``prefix`` /
    ``suffix`` forms, as event-ruler matches them: each character of ``text`` stands for
    its lower-case or its upper-case form (full Unicode mappings, so ``"ΰ"`` also takes
    ``"Ϋ́"``, and a title-case ``"ǅ"`` takes ``"ǆ"`` or ``"Ǆ"`` only)."""
    if text.isascii():
        # ASCII letters fold to one ASCII letter each way: compare folded slices, but
        # only ASCII ones (the Kelvin sign lower-cases to "k", yet "k" does not take it).
        folded, size = text.lower(), len(text)
        if how == "equals":
            return lambda v: len(v) == size and v.isascii() and v.lower() == folded
        if how == "prefix":
            return lambda v: (head := v[:size]).isascii() and head.lower() == folded
        if size == 0:
            return lambda v: True
        return lambda v: (tail := v[-size:]).isascii() and tail.lower() == folded
    body = "".join(
        f"(?:{re.escape(char.lower())}|{re.escape(char.upper())})"
        if char.lower() != char.upper()
        else re.escape(char)
        for char in text
    )
    if how == "equals":
        fullmatch = re.compile(body, re.DOTALL).fullmatch
        return lambda v: fullmatch(v) is not None
    if how == "prefix":
        match = re.compile(body, re.DOTALL).match
        return lambda v: match(v) is not None
    search = re.compile(f"(?:{body})\\Z", re.DOTALL).search
    return lambda v: search(v) is not None


def wildcard_regex(text: str) -> re.Pattern[str]:
    """The regular expression of an event-ruler wildcard (``*`` any run of characters,
    ``\\*`` a star, ``\\\\`` a backslash); raises ``ValueError`` with event-ruler's
    message for ``**`` or any other escape."""
    parts: list[str] = []
    literal: list[str] = []
    index = 0
    # Positions count the UTF-8 bytes of the quoted value, as event-ruler reports them.
    position = 1
    while index < len(text):
        char = text[index]
        if char == "*":
            if index + 1 < len(text) and text[index + 1] == "*":
                raise ValueError(f"Consecutive wildcard characters at pos {position}")
            parts.append(re.escape("".join(literal)))
            literal = []
            parts.append(".*")
        elif char == "\\":
            if index + 1 < len(text) and text[index + 1] in "*\\":
                literal.append(text[index + 1])
                index += 1
                position += 1
            else:
                raise ValueError(f"Invalid escape character at pos {position}")
        else:
            literal.append(char)
        position += len(char.encode("utf-8", "surrogatepass"))
        index += 1
    parts.append(re.escape("".join(literal)))
    return re.compile("".join(parts), re.DOTALL)
