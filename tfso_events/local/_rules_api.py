"""EventBridge's rule operations on the hub's ``POST /`` (JSON 1.1, ``X-Amz-Target:
AWSEvents.<Operation>``), as boto3 sends them and reads the answers.

``PutRule``, ``DescribeRule``, ``ListRules``, ``DeleteRule``, ``EnableRule``,
``DisableRule``, ``PutTargets``, ``RemoveTargets``, ``ListTargetsByRule`` and
``TestEventPattern``. Errors have EventBridge's types: ``ResourceNotFoundException``
(no such rule), ``InvalidEventPatternException`` (the pattern's path and rule, from
:class:`~tfso_events.errors.InvalidPatternError`), ``ValidationException``. Schedules
(``ScheduleExpression``) are not run: such a rule is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from tfso_events.errors import InvalidPatternError
from tfso_events.local._bus import Bus, Rule, Target, bus_name, check_input_path
from tfso_events.patterns import compile_pattern

__all__ = ["RULE_OPERATIONS", "RuleApiError", "answer"]


class RuleApiError(Exception):
    """An operation's error: its EventBridge ``__type`` and message."""

    def __init__(self, type_: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.type = type_
        self.status = status


Operation = Callable[[Bus, dict[str, Any]], dict[str, Any]]


def _name(body: dict[str, Any], key: str = "Name") -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise RuleApiError("ValidationException", f"{key} is required")
    if len(value) > 64:
        raise RuleApiError("ValidationException", f"{key} must be at most 64 characters")
    return value


def _bus(body: dict[str, Any]) -> str:
    value = body.get("EventBusName")
    return bus_name(value if isinstance(value, str) else None)


def _rule(bus: Bus, body: dict[str, Any], key: str = "Name") -> Rule:
    name, on = _name(body, key), _bus(body)
    rule = bus.find(name, on)
    if rule is None:
        raise RuleApiError(
            "ResourceNotFoundException", f"Rule {name} does not exist on EventBus {on}."
        )
    return rule


def _pattern_error(exc: InvalidPatternError) -> RuleApiError:
    return RuleApiError(
        "InvalidEventPatternException",
        f"Event pattern is not valid. Reason: {exc.rule} at {exc.path}",
    )


def put_rule(bus: Bus, body: dict[str, Any]) -> dict[str, Any]:
    name = _name(body)
    if body.get("ScheduleExpression"):
        raise RuleApiError(
            "ValidationException", "the local hub does not run scheduled rules (ScheduleExpression)"
        )
    pattern = body.get("EventPattern")
    if not isinstance(pattern, str) or not pattern:
        raise RuleApiError(
            "ValidationException",
            "Parameter(s) EventPattern or ScheduleExpression must be specified.",
        )
    state = body.get("State", "ENABLED")
    if state not in ("ENABLED", "DISABLED"):
        raise RuleApiError(
            "ValidationException", f"State must be ENABLED or DISABLED, got {state!r}"
        )
    try:
        rule = bus.put_rule(
            name,
            pattern,
            event_bus_name=_bus(body),
            state=state,
            description=body.get("Description"),
        )
    except InvalidPatternError as exc:
        raise _pattern_error(exc) from None
    return {"RuleArn": rule.arn}


def describe_rule(bus: Bus, body: dict[str, Any]) -> dict[str, Any]:
    return _rule(bus, body).describe()


def list_rules(bus: Bus, body: dict[str, Any]) -> dict[str, Any]:
    on, prefix = _bus(body), body.get("NamePrefix") or ""
    rules = [
        rule.describe()
        for rule in sorted(bus.rules.values(), key=lambda r: r.name)
        if rule.event_bus_name in (None, on) and rule.name.startswith(prefix)
    ]
    return {"Rules": rules}


def delete_rule(bus: Bus, body: dict[str, Any]) -> dict[str, Any]:
    try:
        rule = _rule(bus, body)
    except RuleApiError:
        return {}  # EventBridge: deleting a rule that does not exist succeeds
    if rule.targets and not body.get("Force"):
        raise RuleApiError("ValidationException", "Rule can't be deleted since it has targets.")
    bus.delete(rule)
    return {}


def _set_state(state: str) -> Operation:
    def operation(bus: Bus, body: dict[str, Any]) -> dict[str, Any]:
        _rule(bus, body).state = state
        return {}

    return operation


def put_targets(bus: Bus, body: dict[str, Any]) -> dict[str, Any]:
    rule = _rule(bus, body, "Rule")
    specs = body.get("Targets")
    if not isinstance(specs, list) or not 1 <= len(specs) <= 10:
        raise RuleApiError("ValidationException", "Targets must hold 1 to 10 targets")
    failed = []
    for spec in specs:
        if not isinstance(spec, dict):
            raise RuleApiError("ValidationException", "a target must be an object")
        target_id, arn = spec.get("Id"), spec.get("Arn")
        if not isinstance(target_id, str) or not target_id or not isinstance(arn, str) or not arn:
            raise RuleApiError("ValidationException", "each target needs an Id and an Arn")
        problem = _check_target(spec)
        if problem is not None:
            failed.append(
                {"TargetId": target_id, "ErrorCode": "ValidationException", "ErrorMessage": problem}
            )
            continue
        rule.targets[target_id] = Target(
            id=target_id, arn=arn, input=spec.get("Input"), input_path=spec.get("InputPath")
        )
    return {"FailedEntryCount": len(failed), "FailedEntries": failed}


def _check_target(spec: dict[str, Any]) -> str | None:
    given = [key for key in ("Input", "InputPath", "InputTransformer") if spec.get(key) is not None]
    if len(given) > 1:
        return (
            f"Only one of Input, InputPath or InputTransformer may be set (got {', '.join(given)})"
        )
    if "InputTransformer" in given:
        return "the local hub does not apply InputTransformer"
    if "Input" in given:
        try:
            msgspec.json.decode(spec["Input"])
        except (msgspec.DecodeError, TypeError):
            return "Input must be valid JSON text"
    if "InputPath" in given:
        return check_input_path(str(spec["InputPath"]))
    return None


def remove_targets(bus: Bus, body: dict[str, Any]) -> dict[str, Any]:
    rule = _rule(bus, body, "Rule")
    ids = body.get("Ids")
    if not isinstance(ids, list) or not ids:
        raise RuleApiError("ValidationException", "Ids must hold at least one target id")
    for target_id in ids:
        rule.targets.pop(target_id, None)
    return {"FailedEntryCount": 0, "FailedEntries": []}


def list_targets(bus: Bus, body: dict[str, Any]) -> dict[str, Any]:
    rule = _rule(bus, body, "Rule")
    return {"Targets": [target.describe() for target in rule.targets.values()]}


def match_pattern(bus: Bus, body: dict[str, Any]) -> dict[str, Any]:
    pattern, event = body.get("EventPattern"), body.get("Event")
    if not isinstance(pattern, str) or not isinstance(event, str):
        raise RuleApiError("ValidationException", "EventPattern and Event are required (JSON text)")
    try:
        compiled = compile_pattern(pattern)
    except InvalidPatternError as exc:
        raise _pattern_error(exc) from None
    try:
        decoded = msgspec.json.decode(event)
    except msgspec.DecodeError:
        raise RuleApiError("InvalidEventPatternException", "Event is not valid JSON") from None
    if not isinstance(decoded, dict):
        raise RuleApiError("InvalidEventPatternException", "Event is not a JSON object")
    return {"Result": compiled.matches(decoded)}


RULE_OPERATIONS: dict[str, Operation] = {
    "PutRule": put_rule,
    "DescribeRule": describe_rule,
    "ListRules": list_rules,
    "DeleteRule": delete_rule,
    "EnableRule": _set_state("ENABLED"),
    "DisableRule": _set_state("DISABLED"),
    "PutTargets": put_targets,
    "RemoveTargets": remove_targets,
    "ListTargetsByRule": list_targets,
    "TestEventPattern": match_pattern,
}


def answer(bus: Bus, operation: str, raw: bytes) -> tuple[int, dict[str, Any]]:
    """The status and body answering ``operation`` with request body ``raw``."""
    try:
        body = msgspec.json.decode(raw) if raw.strip() else {}
    except msgspec.DecodeError:
        return 400, {"__type": "SerializationException", "message": "the body is not valid JSON"}
    if not isinstance(body, dict):
        return 400, {"__type": "SerializationException", "message": "the body is not a JSON object"}
    try:
        return 200, RULE_OPERATIONS[operation](bus, body)
    except RuleApiError as exc:
        return exc.status, {"__type": exc.type, "message": str(exc)}
