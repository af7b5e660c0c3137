"""``build(EventClass, **overrides)``: a valid event from its example, changed by path."""

from __future__ import annotations

from typing import Any, TypeVar, cast

import msgspec

from tfso_events.models._base import TfsoEvent
from tfso_events.testing._match import split_path

__all__ = ["build", "example"]

E = TypeVar("E", bound=TfsoEvent)


def example(cls: type[E]) -> E:
    """A fresh copy of the documented example of ``cls`` (its schema's example).

    The one place the factories look examples up: today :mod:`tfso_events.examples`.
    Raises ``LookupError`` for a class without an example.
    """
    from tfso_events.examples import sample_events

    for event in sample_events():
        if type(event) is cls:
            return event  # type(event) is cls
    raise LookupError(f"no example for {cls.__name__} ({getattr(cls, 'detail_type', '?')})")


def build(cls: type[E], /, **overrides: Any) -> E:
    """A valid ``cls`` event from its example, with ``overrides`` applied by path.

    A path is attribute names joined by ``__``, starting at the event or (a shortcut)
    at its detail::

        build(BankTransactionCreatedV1Event, content__status__code=200)
        build(BankTestCreatedV1Event, content__age=None, metadata={"tenant": "42"})

    An unknown name raises ``TypeError`` listing the names there are. The result is not
    validated (so a test can build an invalid event on purpose): ``event.validate()``
    or a publisher checks it.
    """
    event = example(cls)
    for key, value in overrides.items():
        event = cast(E, _replace(event, split_path(cls, key), value, key))
    return event


def _replace(obj: Any, names: tuple[str, ...], value: Any, key: str) -> Any:
    name, rest = names[0], names[1:]
    if isinstance(obj, msgspec.Struct):
        fields = obj.__struct_fields__
        if name not in fields:
            raise TypeError(
                f"{key!r}: {type(obj).__name__} has no attribute {name!r}; it has "
                + ", ".join(fields)
            )
        new = _replace(getattr(obj, name), rest, value, key) if rest else value
        return msgspec.structs.replace(obj, **{name: new})
    if isinstance(obj, dict):
        copy = dict(obj)
        copy[name] = _replace(copy.get(name, {}), rest, value, key) if rest else value
        return copy
    raise TypeError(f"{key!r}: cannot set {name!r} on a {type(obj).__name__} (it has no fields)")
