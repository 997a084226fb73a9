"""A token bucket: what one channel (or one source of handshakes) may ask for, on the connector's clock.

``rate`` tokens come back per second, up to ``burst``; each event takes one. Written here rather than taken from
a rate-limiting library because it must run on ``connector._clock`` (the tests' manual clock moves time by hand)
and costs one subtraction per event.
"""

from __future__ import annotations

from collections.abc import Callable


class Budget:
    def __init__(self, rate: float, burst: float, monotonic: Callable[[], float]) -> None:
        self.rate, self.burst, self.monotonic = rate, burst, monotonic
        self.tokens, self._at = burst, monotonic()

    def take(self, cost: float = 1.0) -> bool:
        """Whether there was room for one more event (and it is now spent)."""
        now = self.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self._at) * self.rate)
        self._at = now
        if self.tokens < cost:
            return False
        self.tokens -= cost
        return True
