"""From an event pattern to sub-rules of field constraints, validated as EventBridge does.

The walk follows aws/event-ruler's ``JsonRuleCompiler``: a pattern is an object whose
leaves are non-empty arrays of match values; ``$or`` (an array of at least two
objects) multiplies the sub-rules, so a compiled pattern is a list of sub-rules, each
a conjunction of one constraint per field path, and it matches when any sub-rule
does. Every refusal raises :class:`~tfso_events.errors.InvalidPatternError` with the
path in the pattern (``$.detail.amount[0].numeric``) and event-ruler's own wording of
the rule broken.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

import msgspec

from tfso_events.errors import InvalidPatternError
from tfso_events.patterns._values import (
    Test,
    as_comparable,
    ignore_case,
    ip_of,
    number_of,
    wildcard_regex,
)

__all__ = ["Constraint", "SubRule", "compile_rules", "json_path", "load_pattern"]

OR: Final = "$or"
#: EventBridge refuses a pattern whose ``$or``s multiply to more combinations than this
#: ("rule is too complex"); the bound also keeps compiling from running away.
MAX_COMBINATIONS: Final = 1000
# Field names event-ruler reserves inside $or (its operators and a few kept for later).
_RESERVED_IN_OR = frozenset(
    {
        "exactly",
        "equals-ignore-case",
        "prefix",
        "suffix",
        "anything-but",
        "exists",
        "wildcard",
        "numeric",
        "cidr",
        "=",
        "<",
        "<=",
        ">",
        ">=",
        "regex",
        "not-wildcard",
        "not-equals-ignore-case",
        "date-after",
        "date-on-or-after",
        "date-before",
        "date-on-or-before",
        "in-date-range",
        "ip-address-in-range",
        "ip-address-not-in-range",
    }
)
_SCALAR_NAMES = {str: "a string", bool: "a boolean", type(None): "null"}
# The pattern is decoded keeping each number's digits (event-ruler refuses a
# numeric operand a double cannot hold, and it needs the digits to know).
_DECODER = msgspec.json.Decoder(float_hook=Decimal)


@dataclass(frozen=True, slots=True)
class Constraint:
    """One field of a sub-rule: where, the compiled test, and what the pattern said."""

    path: tuple[str, ...]
    #: Dotted name, the order event-ruler visits fields in (it decides which element of
    #: an array an ``exists: false`` is checked against).
    name: str
    test: Test
    #: ``{"exists": false}`` is one of the alternatives: no value at all also matches.
    absent_ok: bool
    #: ``{"exists": true}`` is one of the alternatives: any value matches.
    any_value: bool
    #: The pattern's own list for this field (for explanations).
    spec: tuple[object, ...]


SubRule = tuple[Constraint, ...]


def load_pattern(pattern: Mapping[str, Any] | str | bytes) -> Any:
    """The pattern as JSON values (numbers from text keep their digits as ``Decimal``)."""
    if isinstance(pattern, str | bytes | bytearray | memoryview):
        try:
            return _DECODER.decode(pattern)
        except msgspec.DecodeError as exc:
            raise InvalidPatternError(f"not JSON: {exc}") from None
    return pattern


def compile_rules(pattern: object) -> list[SubRule]:
    """The sub-rules of ``pattern`` (any one matching means the pattern matches)."""
    if not isinstance(pattern, Mapping):
        raise InvalidPatternError("Filter is not an object")
    rules: list[dict[str, Constraint]] = []
    _object(rules, (), pattern, in_or=False)
    return [tuple(sorted(rule.values(), key=lambda c: c.name)) for rule in rules]


def json_path(path: tuple[str, ...], *tail: str | int) -> str:
    """``$.detail["a b"][0]``: a place in a pattern or an event, as messages name it."""
    out = "$"
    for step in (*path, *tail):
        if isinstance(step, int):
            out += f"[{step}]"
        elif re.fullmatch(r"[A-Za-z_$][A-Za-z0-9_$-]*", step):
            out += f".{step}"
        else:
            out += f"[{msgspec.json.encode(step).decode()}]"
    return out


def _object(
    rules: list[dict[str, Constraint]],
    path: tuple[str, ...],
    obj: Mapping[Any, Any],
    *,
    in_or: bool,
) -> None:
    if not obj:
        raise InvalidPatternError("Empty objects are not allowed", path=json_path(path))
    for key, value in obj.items():
        if not isinstance(key, str):
            raise InvalidPatternError(f"field name {key!r} is not a string", path=json_path(path))
        if key == OR:
            _or(rules, path, value)
            continue
        if in_or and key in _RESERVED_IN_OR:
            raise InvalidPatternError(
                f"{key} is Ruler reserved fieldName which cannot be used inside $or.",
                path=json_path(path, key),
            )
        if isinstance(value, Mapping):
            _object(rules, (*path, key), value, in_or=in_or)
        elif isinstance(value, list | tuple):
            _leaf(rules, (*path, key), value)
        else:
            raise InvalidPatternError(
                f'"{key}" must be an object or an array', path=json_path(path, key)
            )


def _or(rules: list[dict[str, Constraint]], path: tuple[str, ...], value: object) -> None:
    where = json_path(path, OR)
    if not isinstance(value, list | tuple):
        raise InvalidPatternError("It must be an Array followed with $or.", path=where)
    current = [dict(rule) for rule in rules]
    rules.clear()
    for index, branch in enumerate(value):
        if not isinstance(branch, Mapping):
            raise InvalidPatternError(
                "Only JSON object is allowed in array of $or relationship.",
                path=f"{where}[{index}]",
            )
        branch_rules = [dict(rule) for rule in current] or [{}]
        _object(branch_rules, path, branch, in_or=True)
        rules.extend(branch_rules)
        if len(rules) > MAX_COMBINATIONS:
            raise InvalidPatternError(
                f"Rule is too complex: its $or branches make more than {MAX_COMBINATIONS} "
                "combinations",
                path=where,
            )
    if len(value) < 2:
        raise InvalidPatternError(
            "There must have at least 2 Objects in $or relationship.", path=where
        )


def _leaf(rules: list[dict[str, Constraint]], path: tuple[str, ...], values: Any) -> None:
    if not values:
        raise InvalidPatternError("Empty arrays are not allowed", path=json_path(path))
    builder = _LeafBuilder()
    for index, value in enumerate(values):
        builder.add(value, json_path(path, index))
    name = ".".join(path)
    constraint = Constraint(
        path=path,
        name=name,
        test=builder.build(),
        absent_ok=builder.absent_ok,
        any_value=builder.any_value,
        spec=tuple(values),
    )
    if not rules:
        rules.append({})
    for rule in rules:
        # A later mention of the same path replaces the earlier one, as in event-ruler.
        rule[name] = constraint


def _is_number(value: object) -> bool:
    return type(value) in (int, float, Decimal)


def _comparable(value: object, where: str) -> float:
    number = as_comparable(value)  # type: ignore[arg-type]
    if number is None:
        raise InvalidPatternError(f"Cannot compare number : {value}", path=where)
    return number


def _digits(value: int | float | Decimal) -> object:
    """What a number a double cannot hold is matched by: its value as an ``int`` (the
    event's digits decode to the same int); over-precise decimals match nothing we
    decode, since events are read as doubles."""
    return value if type(value) is int else None


class _LeafBuilder:
    """Collects the alternatives of one leaf, then builds its single test."""

    def __init__(self) -> None:
        self.strings: set[str] = set()
        self.numbers: set[float] = set()
        self.big_ints: set[object] = set()
        self.literals: set[object] = set()
        self.ips: set[tuple[int, int]] = set()
        self.ip_ranges: list[tuple[int, int, int]] = []
        self.string_tests: list[Test] = []
        self.number_tests: list[Callable[[float], bool]] = []
        self.any_tests: list[Test] = []
        self.absent_ok = False
        self.any_value = False

    # -- alternatives ---------------------------------------------------------------

    def add(self, value: object, where: str) -> None:
        if isinstance(value, str):
            ip = ip_of(value)
            if ip is not None:
                self.ips.add(ip)
            else:
                self.strings.add(value)
        elif value is True or value is False or value is None:
            self.literals.add(value)
        elif _is_number(value):
            number = as_comparable(value)  # type: ignore[arg-type]
            if number is not None:
                self.numbers.add(number)
            else:
                self.big_ints.add(_digits(value))  # type: ignore[arg-type]
        elif isinstance(value, Mapping):
            self._expression(value, where)
        else:
            raise InvalidPatternError(
                "Match value must be String, number, true, false, or null", path=where
            )

    def _expression(self, expr: Mapping[Any, Any], where: str) -> None:
        if not expr:
            raise InvalidPatternError("Match expression name not found", path=where)
        op = next(iter(expr))
        operand = expr[op]
        at = f"{where}.{op}" if isinstance(op, str) else where
        if len(expr) > 1:
            # event-ruler reads the first key, then refuses whatever follows it.
            self._check_one(op, operand, at)
            raise InvalidPatternError("Only one key allowed in match expression", path=where)
        self._check_one(op, operand, at)

    def _check_one(self, op: object, operand: object, at: str) -> None:
        handler = _OPERATORS.get(op) if isinstance(op, str) else None
        if handler is None:
            raise InvalidPatternError(f"Unrecognized match type {op}", path=at)
        handler(self, operand, at)

    def _exactly(self, operand: object, at: str) -> None:
        if not isinstance(operand, str):
            raise InvalidPatternError("exact match pattern must be a string", path=at)
        # Unlike a bare string, "exactly" never reads its value as an IP address.
        self.strings.add(operand)

    def _prefix(self, operand: object, at: str) -> None:
        if isinstance(operand, Mapping):
            text = _nested_ignore_case(operand, at, "Prefix")
            self.string_tests.append(ignore_case(text, "prefix"))  # type: ignore[arg-type]
            return
        if not isinstance(operand, str):
            raise InvalidPatternError("prefix match pattern must be a string", path=at)
        self.string_tests.append(lambda v: v.startswith(operand))  # type: ignore[attr-defined]

    def _suffix(self, operand: object, at: str) -> None:
        if isinstance(operand, Mapping):
            text = _nested_ignore_case(operand, at, "Suffix")
            self.string_tests.append(ignore_case(text, "suffix"))  # type: ignore[arg-type]
            return
        if not isinstance(operand, str):
            raise InvalidPatternError("suffix match pattern must be a string", path=at)
        self.string_tests.append(lambda v: v.endswith(operand))  # type: ignore[attr-defined]

    def _equals_ignore_case(self, operand: object, at: str) -> None:
        if not isinstance(operand, str):
            raise InvalidPatternError("equals-ignore-case match pattern must be a string", path=at)
        self.string_tests.append(ignore_case(operand, "equals"))  # type: ignore[arg-type]

    def _wildcard(self, operand: object, at: str) -> None:
        if not isinstance(operand, str):
            raise InvalidPatternError("wildcard match pattern must be a string", path=at)
        try:
            regex = wildcard_regex(operand)
        except ValueError as exc:
            raise InvalidPatternError(str(exc), path=at) from None
        fullmatch = regex.fullmatch
        self.string_tests.append(lambda v: fullmatch(v) is not None)  # type: ignore[call-overload]

    def _cidr(self, operand: object, at: str) -> None:
        if not isinstance(operand, str):
            raise InvalidPatternError("cidr match pattern must be a string", path=at)
        self.ip_ranges.append(_cidr_range(operand, at))

    def _exists(self, operand: object, at: str) -> None:
        if operand is True:
            self.any_value = True
        elif operand is False:
            self.absent_ok = True
        else:
            raise InvalidPatternError("exists match pattern must be either true or false.", path=at)

    def _numeric(self, operand: object, at: str) -> None:
        if not isinstance(operand, list | tuple):
            raise InvalidPatternError("Value of numeric must be an array.", path=at)
        self.number_tests.append(_numeric_test(list(operand), at))

    def _anything_but(self, operand: object, at: str) -> None:
        if isinstance(operand, Mapping):
            self.any_tests.append(_anything_but_nested(operand, at))
            return
        if isinstance(operand, list | tuple):
            values = list(operand)
        elif isinstance(operand, str) or _is_number(operand):
            values = [operand]
        else:
            raise InvalidPatternError(
                "Value of anything-but must be an array or single string/number value.", path=at
            )
        strings: set[str] = set()
        numbers: set[float] = set()
        for index, value in enumerate(values):
            where = f"{at}[{index}]" if isinstance(operand, list | tuple) else at
            if isinstance(value, str):
                strings.add(value)
            elif _is_number(value):
                numbers.add(_comparable(value, where))
            else:
                raise InvalidPatternError(
                    "Inside anything but list, start|null|boolean is not supported.", path=where
                )
        if bool(strings) == bool(numbers):
            raise InvalidPatternError(
                "Inside anything but list, either all values are number or string, "
                "mixed type is not supported",
                path=at,
            )
        if strings:
            frozen = frozenset(strings)
            self.any_tests.append(lambda v: type(v) is not str or v not in frozen)
        else:
            frozen_numbers = frozenset(numbers)

            def not_numbers(v: object) -> bool:
                number = number_of(v) if type(v) is not bool else None
                return number is None or number not in frozen_numbers

            self.any_tests.append(not_numbers)

    # -- the one test ---------------------------------------------------------------

    def build(self) -> Test:
        if self.any_value:
            return _always
        strings = frozenset(self.strings)
        numbers = frozenset(self.numbers)
        big_ints = frozenset(self.big_ints)
        literals = tuple(self.literals)
        ips = frozenset(self.ips)
        ip_ranges = tuple(self.ip_ranges)
        string_tests = tuple(self.string_tests)
        number_tests = tuple(self.number_tests)
        any_tests = tuple(self.any_tests)
        wants_ip = bool(ips or ip_ranges)
        if not (numbers or big_ints or literals or wants_ip or string_tests) and not (
            number_tests or any_tests
        ):
            return strings.__contains__
        if (
            not strings
            and not (numbers or big_ints or literals or wants_ip or number_tests or any_tests)
            and len(string_tests) == 1
        ):
            only = string_tests[0]
            return lambda v: type(v) is str and only(v)

        def test(value: object) -> bool:
            kind = type(value)
            if kind is str:
                if value in strings:
                    return True
                for string_test in string_tests:
                    if string_test(value):
                        return True
                if wants_ip:
                    ip = ip_of(value)  # type: ignore[arg-type]
                    if ip is not None:
                        if ip in ips:
                            return True
                        version, address = ip
                        for range_version, low, high in ip_ranges:
                            if version == range_version and low <= address <= high:
                                return True
            elif kind is bool or value is None:
                for literal in literals:
                    if value is literal:
                        return True
            elif kind is int or kind is float or kind is Decimal:
                number = number_of(value)
                if number is None:
                    if value in big_ints:
                        return True
                else:
                    if number in numbers:
                        return True
                    for number_test in number_tests:
                        if number_test(number):
                            return True
            return any(any_test(value) for any_test in any_tests)

        return test


def _always(_value: object) -> bool:
    return True


_OPERATORS: dict[str, Callable[[_LeafBuilder, object, str], None]] = {
    "exactly": _LeafBuilder._exactly,
    "prefix": _LeafBuilder._prefix,
    "suffix": _LeafBuilder._suffix,
    "equals-ignore-case": _LeafBuilder._equals_ignore_case,
    "wildcard": _LeafBuilder._wildcard,
    "cidr": _LeafBuilder._cidr,
    "exists": _LeafBuilder._exists,
    "numeric": _LeafBuilder._numeric,
    "anything-but": _LeafBuilder._anything_but,
}


def _nested_ignore_case(operand: Mapping[Any, Any], at: str, what: str) -> str:
    """The string of ``{"prefix": {"equals-ignore-case": "..."}}`` (and suffix)."""
    if not operand:
        raise InvalidPatternError(f"{what} expression name not found", path=at)
    op = next(iter(operand))
    if op != "equals-ignore-case":
        raise InvalidPatternError(f"Unsupported {what.lower()} pattern: {op}", path=at)
    text = operand[op]
    if not isinstance(text, str):
        raise InvalidPatternError(
            "equals-ignore-case match pattern must be a string", path=f"{at}.{op}"
        )
    if len(operand) > 1:
        raise InvalidPatternError("Only one key allowed in match expression", path=at)
    return text


def _anything_but_nested(operand: Mapping[Any, Any], at: str) -> Test:
    """``anything-but`` over ``prefix``, ``suffix``, ``equals-ignore-case`` or
    ``wildcard`` (a string or a list of strings): true for every value that is not a
    string those would take."""
    if not operand:
        raise InvalidPatternError("Anything-But expression name not found", path=at)
    op = next(iter(operand))
    if op not in ("prefix", "suffix", "equals-ignore-case", "wildcard"):
        raise InvalidPatternError(f"Unsupported anything-but pattern: {op}", path=at)
    where = f"{at}.{op}"
    value = operand[op]
    if isinstance(value, list | tuple):
        texts = list(value)
        places = [f"{where}[{i}]" for i in range(len(texts))]
    elif isinstance(value, str) or _is_number(value):
        texts, places = [value], [where]
    else:
        raise InvalidPatternError(
            "Value of anything-but must be an array or single string/number value.", path=where
        )
    for text, place in zip(texts, places, strict=True):
        if not isinstance(text, str):
            if op == "equals-ignore-case":
                rule = (
                    "Inside anything-but/equals-ignore-case list, "
                    "number|start|null|boolean is not supported."
                )
            elif op == "wildcard":
                rule = "wildcard match pattern must be a string"
            else:
                rule = "prefix/suffix match pattern must be a string"
            raise InvalidPatternError(rule, path=place)
        if op in ("prefix", "suffix") and not text:
            raise InvalidPatternError("Null prefix/suffix not allowed", path=place)
    if len(operand) > 1:
        raise InvalidPatternError("Too many elements in numeric expression", path=at)
    strings: list[str] = texts
    if op == "prefix":
        prefixes = tuple(strings)
        return lambda v: type(v) is not str or not v.startswith(prefixes)
    if op == "suffix":
        suffixes = tuple(strings)
        return lambda v: type(v) is not str or not v.endswith(suffixes)
    if op == "equals-ignore-case":
        tests = [ignore_case(text, "equals") for text in strings]
        return lambda v: type(v) is not str or not any(test(v) for test in tests)
    regexes = []
    for text, place in zip(strings, places, strict=True):
        try:
            regexes.append(wildcard_regex(text).fullmatch)
        except ValueError as exc:
            raise InvalidPatternError(str(exc), path=place) from None
    return lambda v: type(v) is not str or not any(m(v) is not None for m in regexes)


_COMPARATORS = ("=", "<", "<=", ">", ">=")


def _numeric_test(terms: list[object], at: str) -> Callable[[float], bool]:
    """``numeric``: ``["=", x]``, one bound, or a lower then an upper bound."""
    if not terms or not isinstance(terms[0], str):
        shown = terms[0] if terms else "]"
        raise InvalidPatternError(f"Invalid member in numeric match: {shown}", path=at)
    operator = terms[0]
    if operator not in _COMPARATORS:
        raise InvalidPatternError(f"Unrecognized numeric range operator: {operator}", path=at)
    if len(terms) < 2 or not _is_number(terms[1]):
        label = "equals" if operator == "=" else operator
        raise InvalidPatternError(f"Value of {label} must be numeric", path=f"{at}[1]")
    first = _comparable(terms[1], f"{at}[1]")
    if operator == "=":
        if len(terms) > 2:
            raise InvalidPatternError("Too many elements in numeric expression", path=at)
        return lambda n: n == first
    if operator in ("<", "<="):
        if len(terms) > 2:
            raise InvalidPatternError("Too many elements in numeric expression", path=at)
        return (lambda n: n < first) if operator == "<" else (lambda n: n <= first)
    if len(terms) == 2:
        return (lambda n: n > first) if operator == ">" else (lambda n: n >= first)
    upper_op = terms[2]
    if not isinstance(upper_op, str):
        raise InvalidPatternError(f"Bad value in numeric range: {upper_op}", path=f"{at}[2]")
    if upper_op not in ("<", "<="):
        raise InvalidPatternError(f"Bad numeric range operator: {upper_op}", path=f"{at}[2]")
    if len(terms) < 4 or not _is_number(terms[3]):
        raise InvalidPatternError(f"Value of {upper_op} must be numeric", path=f"{at}[3]")
    top = _comparable(terms[3], f"{at}[3]")
    if len(terms) > 4:
        raise InvalidPatternError("Too many terms in numeric range expression", path=at)
    if not first < top:
        raise InvalidPatternError("Bottom must be less than top", path=at)
    open_bottom = operator == ">"
    open_top = upper_op == "<"
    if open_bottom and open_top:
        return lambda n: first < n < top
    if open_bottom:
        return lambda n: first < n <= top
    if open_top:
        return lambda n: first <= n < top
    return lambda n: first <= n <= top


def _cidr_range(text: str, at: str) -> tuple[int, int, int]:
    """``(version, lowest, highest)`` of a CIDR block, refused as event-ruler does
    (IPv4 mask bits below 32, IPv6 below 128; host bits are ignored)."""
    parts = text.split("/")
    if len(parts) != 2:
        raise InvalidPatternError("Malformed CIDR, one '/' required", path=at)
    try:
        bits = int(parts[1])
    except ValueError:
        raise InvalidPatternError("Malformed CIDR, mask bits must be an integer", path=at) from None
    if bits < 0:
        raise InvalidPatternError("Malformed CIDR, mask bits must not be negative", path=at)
    ip = ip_of(parts[0])
    if ip is None:
        raise InvalidPatternError(f"Invalid IP address: {parts[0]}", path=at)
    version, address = ip
    width = 32 if version == 4 else 128
    if bits > width - 1:
        raise InvalidPatternError(f"IPv{version} mask bits must be < {width}", path=at)
    host = (1 << (width - bits)) - 1
    low = address & ~host & ((1 << width) - 1)
    return version, low, low | host
