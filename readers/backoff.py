"""Jittered exponential reconnect backoff with a fast and a slow phase.

Fast phase: 50 ms doubling up to 30 s (a reader that rebooted is back in seconds).
Slow phase: from 30 s doubling up to 30 min (a reader that is unplugged should not be
hammered). Each delay is drawn from [d/2, d] ("equal jitter") so a site's gateways do not
reconnect in lockstep. `reset()` after a session that stayed healthy.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(slots=True)
class Backoff:
    initial_s: float = 0.05
    fast_max_s: float = 30.0
    fast_attempts: int = 12
    slow_max_s: float = 1800.0
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def ceiling(self) -> float:
        """The un-jittered delay of the current attempt."""
        if self.attempt < self.fast_attempts:
            return float(min(self.fast_max_s, self.initial_s * 2.0**self.attempt))
        return float(
            min(self.slow_max_s, self.fast_max_s * 2.0 ** (self.attempt - self.fast_attempts + 1))
        )

    def next_delay(self) -> float:
        d = self.ceiling()
        self.attempt += 1
        return self.rng.uniform(d / 2, d)

    def reset(self) -> None:
        self.attempt = 0
