"""A clock the test moves by hand (``Pool(clock=...)`` or ``pool.clock = ...``): leases expire without waiting."""

from __future__ import annotations

from datetime import datetime, timedelta

from activeloop.store.schema import utcnow


class FakeClock:
    """Naive-UTC "now", fixed until :meth:`advance` moves it."""

    def __init__(self):
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
