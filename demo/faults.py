"""Deterministic, transient faults for the demo API: 429s, 503s and dropped connections.

The schedule is a request counter plus a seeded random stream, so the same sequence of
requests meets the same faults. A URL is never faulted more than `MAX_STREAK` times in a row:
a crawler that retries always gets through.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

MAX_STREAK = 2


@dataclass
class FaultSchedule:
    """Decides, request by request, whether the API answers normally or with a fault."""

    seed: int = 1
    rate_limit_every: int = 0  # every N-th API request gets 429 (0: never)
    error_rate: float = 0.0  # fraction of API requests answered 503
    drop_rate: float = 0.0  # fraction of API requests whose connection is closed unanswered
    count: int = 0
    _rng: random.Random = field(init=False, repr=False)
    _streaks: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not 0 <= self.error_rate + self.drop_rate <= 1:
            raise ValueError("error_rate + drop_rate must lie between 0 and 1")
        self._rng = random.Random(f"lifeboat-demo-faults:{self.seed}")

    @property
    def active(self) -> bool:
        return bool(self.rate_limit_every or self.error_rate or self.drop_rate)

    def decide(self, path: str) -> str | None:
        """"429", "503", "drop" or None (answer normally) for the next request of `path`."""
        self.count += 1
        roll = self._rng.random()  # drawn every time so the stream depends on the count only
        if self._streaks.get(path, 0) >= MAX_STREAK:
            fault = None
        elif self.rate_limit_every and self.count % self.rate_limit_every == 0:
            fault = "429"
        elif roll < self.error_rate:
            fault = "503"
        elif roll < self.error_rate + self.drop_rate:
            fault = "drop"
        else:
            fault = None
        if fault:
            self._streaks[path] = self._streaks.get(path, 0) + 1
        else:
            self._streaks.pop(path, None)
        return fault
