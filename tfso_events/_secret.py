"""The :class:`Secret` wrapper: a string that hides itself from reprs, logs and errors.

Its own ground-floor module (standard library only) so that both
:mod:`tfso_events.environments` (which reads the secret from the environment) and
:mod:`tfso_events.auth` (which sends it) can import it without importing each other.
Public as ``tfso_events.auth.Secret``.
"""

from __future__ import annotations

import hmac

__all__ = ["Secret"]


class Secret:
    """A secret string that hides itself: its ``repr`` and ``str`` are ``***``.

    >>> s = Secret("hunter2")
    >>> s, str(s), f"{s}"
    (***, '***', '***')
    >>> s.reveal()
    'hunter2'
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"a Secret wraps a str, not {type(value).__name__}")
        self._value = value

    @classmethod
    def wrap(cls, value: str | Secret) -> Secret:
        """``value`` as a :class:`Secret` (unchanged if it already is one)."""
        return value if isinstance(value, Secret) else cls(value)

    def reveal(self) -> str:
        """The secret itself. Only the token request body should ever call this."""
        return self._value

    def __repr__(self) -> str:
        return "***"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    __hash__ = None  # type: ignore[assignment]  # equal secrets need not be dict keys

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> str:
        raise TypeError("a Secret cannot be pickled")
