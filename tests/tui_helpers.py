"""Shared pieces of the TUI, session and loop tests: a small real digits pool, a fast loop, deterministic waiting."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
from rich.text import Text
from sklearn.datasets import load_digits

from activeloop.loop import Loop
from activeloop.model import FocalLossClassifier
from activeloop.store import Pool

DIGITS = load_digits()
CLASSES = [str(d) for d in range(10)]


def digits_pool(path: Path, *, n_pool: int = 120, n_eval: int = 30, eval_labels: bool = True, name: str = "digits") -> Pool:
    """A pool of sklearn digits with image payloads (as the demo stores them); eval split labeled."""
    pool = Pool.create(path, name, CLASSES, hotkeys=CLASSES)
    idx = np.arange(n_pool)
    pool.add(
        DIGITS.data[idx],
        payloads=[{"image": DIGITS.images[i].astype(int).tolist(), "source": f"sklearn digits #{i}"} for i in idx],
    )
    if n_eval:
        ev = np.arange(n_pool, n_pool + n_eval)
        pool.add(
            DIGITS.data[ev],
            payloads=[{"image": DIGITS.images[i].astype(int).tolist(), "source": f"sklearn digits #{i}"} for i in ev],
            labels=[str(DIGITS.target[i]) for i in ev] if eval_labels else None,
            split="eval",
        )
    return pool


def digits_file(path: Path, **kw) -> Path:
    """A closed :func:`digits_pool` file at ``path``, for tests that open (and reopen) it themselves."""
    digits_pool(path, **kw).close()
    return path


def truth(pool: Pool, example_id: int) -> str:
    """The true digit of an example, from its payload's source."""
    source = pool.example(example_id)["payload"]["source"]
    return str(DIGITS.target[int(source.rsplit("#", 1)[1])])


def fast_loop(pool: Pool, batch: int = 10, **model_params) -> Loop:
    """A Loop with the model that ships (refitted each round), small and seeded: a round takes a moment."""
    model = FocalLossClassifier(hidden=(16,), max_epochs=15, random_state=0, **model_params)
    return Loop(pool, model=model, batch_size=batch, random_state=0)


async def settle(pilot) -> None:
    """Wait until no worker runs (workers may start others when they land), then drain messages."""
    app = pilot.app
    for _ in range(100):
        await pilot.pause()
        busy = [w for w in app.workers if not w.is_finished]
        if not busy:
            await pilot.pause()
            return
        await app.workers.wait_for_complete(busy)
    raise AssertionError("workers kept starting")


SIZE = (100, 40)


def drive(app, scenario, size: tuple[int, int] = SIZE) -> None:
    """Run ``scenario(pilot)`` inside the app, after its first examples have arrived."""

    async def main():
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            await scenario(pilot)

    asyncio.run(main())


def plain(widget) -> str:
    """The text a Static-like widget shows."""
    content = widget.content
    return content.plain if isinstance(content, Text) else str(content)
