"""EventBridge event patterns, matched exactly as EventBridge matches them.

::

    >>> from tfso_events.patterns import compile_pattern
    >>> rule = compile_pattern({"detail": {"amount": [{"numeric": [">", 100]}]}})
    >>> rule.matches({"detail": {"amount": 250}})
    True
    >>> print(rule.explain({"detail": {"amount": 50}}))
    $.detail.amount: 50 does not match [{"numeric":[">",100]}]

Every operator EventBridge supports (exact values, ``prefix``, ``suffix``,
``equals-ignore-case``, ``anything-but`` and its nested forms, ``numeric``,
``exists``, ``cidr``, ``wildcard``, ``$or``), with the semantics of AWS's own engine,
aws/event-ruler: see ``docs/patterns.md``. A pattern is compiled (and validated) once;
:meth:`CompiledPattern.matches` never raises, whatever the event. Loads msgspec only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tfso_events.errors import InvalidPatternError
from tfso_events.patterns._compiler import SubRule, compile_rules, load_pattern
from tfso_events.patterns._matcher import event_root, match_rule, why_not
from tfso_events.patterns._values import ip_of

__all__ = ["CompiledPattern", "InvalidPatternError", "compile_pattern", "matches"]

#: What a pattern may be given as: a mapping, or its JSON text.
PatternSource = Mapping[str, Any] | str | bytes


class CompiledPattern:
    """An event pattern, validated and compiled once, to match many events.

    Build it with :func:`compile_pattern`. ``pattern`` is the pattern as given (JSON
    text decoded).
    """

    __slots__ = ("_rules", "pattern")

    def __init__(self, pattern: PatternSource) -> None:
        source = load_pattern(pattern)
        self._rules: tuple[SubRule, ...] = tuple(compile_rules(source))
        self.pattern: Mapping[str, Any] = source

    def __repr__(self) -> str:
        return f"CompiledPattern({self.pattern!r})"

    def matches(self, event: object) -> bool:
        """True when EventBridge would deliver ``event`` to a rule with this pattern.

        ``event`` is an envelope (a mapping, or JSON ``bytes``/``str``) or a typed event
        (:class:`~tfso_events.TfsoEvent`: its envelope is matched). Never raises: what
        is not a JSON object, or not a valid event, matches nothing.
        """
        try:
            if type(event) is dict:
                root: Mapping[Any, Any] = event
            else:
                found, _ = event_root(event)
                if found is None:
                    return False
                root = found
            # A plain loop: a generator in any() costs a tenth of a match here.
            for rule in self._rules:  # noqa: SIM110
                if match_rule(rule, root):
                    return True
            return False
        except RecursionError:
            return False

    def explain(self, event: object) -> str | None:
        """``None`` when ``event`` matches; otherwise why not, as one line per branch
        of the pattern: the field path (``$.detail.status``), the value found and the
        pattern it failed (or that the field is missing, or matched only in different
        elements of an array). Never raises."""
        try:
            root, why = event_root(event)
            if root is None:
                return why
            if any(match_rule(rule, root) for rule in self._rules):
                return None
            reasons = [why_not(rule, root) for rule in self._rules]
        except RecursionError:
            return "the event is nested too deeply to match"
        if len(reasons) == 1:
            return reasons[0]
        lines = [f"none of the {len(reasons)} branches of $or matches:"]
        lines.extend(f"  {index}. {reason}" for index, reason in enumerate(reasons, 1))
        return "\n".join(lines)


_INDEXABLE = ("detail-type", "source", "account", "region")


def _index_key(compiled: CompiledPattern) -> tuple[str, frozenset[str]] | None:
    """A top-level field every match needs one of a few plain strings in (``source``:
    ``["a", "b"]``), for a bus to look rules up by; ``None`` when there is none. Used by
    the local hub; a string that reads as an IP address is matched as one, so it is
    never a key."""
    if len(compiled._rules) != 1:
        return None
    by_name = {c.path: c for c in compiled._rules[0] if len(c.path) == 1}
    for field in _INDEXABLE:
        constraint = by_name.get((field,))
        if constraint is None or constraint.absent_ok or constraint.any_value:
            continue
        spec = constraint.spec
        if spec and all(type(v) is str and ip_of(v) is None for v in spec):
            return field, frozenset(spec)  # type: ignore[arg-type]
    return None


def compile_pattern(pattern: PatternSource) -> CompiledPattern:
    """Validate and compile an event pattern (a mapping, or its JSON text).

    Raises :class:`~tfso_events.InvalidPatternError` naming the place in the pattern
    (``$.detail.amount[0].numeric``) and the rule it breaks, wherever EventBridge's
    ``PutRule`` would refuse the pattern.
    """
    return CompiledPattern(pattern)


def matches(pattern: PatternSource, event: object) -> bool:
    """One-off: does ``event`` match ``pattern``? (Compile once with
    :func:`compile_pattern` to match many events.)"""
    return CompiledPattern(pattern).matches(event)
