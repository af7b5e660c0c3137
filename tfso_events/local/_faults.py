"""Fault injection: how often the hub throttles, fails or dawdles, from one seedable RNG."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Faults"]

_RATES = frozenset({"throttle_rate", "error_rate", "token_error_rate"})


@dataclass
class Faults:
    """The hub's fault knobs; change them at any time, they apply to the next request.

    * ``throttle_rate`` — fraction of PutEvents entries answered ``ThrottlingException``
      (and of ``POST /events`` requests answered ``429 Too Many Requests``);
    * ``error_rate`` — fraction of ``POST /events`` requests answered ``503`` and of whole
      PutEvents calls answered ``500 InternalException``;
    * ``token_error_rate`` — fraction of ``POST /oauth/token`` requests answered ``503``;
    * ``latency`` — seconds every POST waits before it is answered;
    * ``retry_after`` — when set, 429 and 503 answers carry ``Retry-After: <seconds>``;
    * ``quota`` — a rate limit, as the real service throttles: at most this many
      PutEvents entries (and ``POST /events`` requests) per second, from a token bucket
      that holds one second's worth; entries beyond it are answered
      ``ThrottlingException`` (requests ``429``). ``None``: no limit.

    Draws come from one :class:`random.Random`; seed it (``LocalHub(seed=1)`` or
    :meth:`seed`) for a reproducible sequence. A rate of ``0`` or ``1`` draws nothing,
    so it is exact::

        hub.faults.throttle_rate = 0.2
        hub.faults.latency = 0.05
        ...
        hub.faults.reset()
    """

    throttle_rate: float = 0.0
    error_rate: float = 0.0
    token_error_rate: float = 0.0
    latency: float = 0.0
    retry_after: int | None = None
    # (before ``quota``: __init__ assigns in field order, and setting quota fills these)
    _tokens: float = field(default=0.0, init=False, repr=False, compare=False)
    _refilled: float = field(default=0.0, init=False, repr=False, compare=False)
    quota: float | None = None
    throttled_by_quota: int = field(default=0, compare=False)
    """How many entries (and requests) the quota has refused so far."""
    _random: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _RATES:
            value = float(value)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        elif name == "latency":
            value = float(value)
            if not 0.0 <= value < 3600:
                raise ValueError(f"latency must be between 0 and 3600 seconds, got {value}")
        elif name == "retry_after" and value is not None and (int(value) != value or value < 0):
            raise ValueError(f"retry_after must be a whole number of seconds >= 0, got {value}")
        elif name == "quota" and value is not None:
            value = float(value)
            if not value > 0:
                raise ValueError(f"quota must be a positive number per second, got {value}")
            # A new quota starts with a full bucket: one second's worth.
            super().__setattr__("_tokens", value)
            super().__setattr__("_refilled", time.monotonic())
        super().__setattr__(name, value)

    def seed(self, seed: int | None) -> None:
        """Restart the draws from ``seed`` (``None``: from system randomness)."""
        self._random.seed(seed)

    def reset(self) -> None:
        """Turn every fault off."""
        self.throttle_rate = self.error_rate = self.token_error_rate = 0.0
        self.latency = 0.0
        self.retry_after = None
        self.quota = None
        self.throttled_by_quota = 0

    def hit(self, rate: float) -> bool:
        """Draw once: ``True`` with probability ``rate`` (no draw for 0 or 1)."""
        if rate <= 0.0:
            return False
        return rate >= 1.0 or self._random.random() < rate

    def over_quota(self) -> bool:
        """Take one entry from the quota's bucket: ``True`` when it is empty (the entry
        is to be throttled), ``False`` when there is no quota or room."""
        quota = self.quota
        if quota is None:
            return False
        now = time.monotonic()
        tokens = min(quota, self._tokens + (now - self._refilled) * quota)
        self._refilled = now
        if tokens < 1.0:
            self._tokens = tokens
            self.throttled_by_quota += 1
            return True
        self._tokens = tokens - 1.0
        return False

    def retry_after_headers(self) -> dict[str, str]:
        """``{"Retry-After": "<n>"}`` when :attr:`retry_after` is set, else ``{}``."""
        return {} if self.retry_after is None else {"Retry-After": str(int(self.retry_after))}
