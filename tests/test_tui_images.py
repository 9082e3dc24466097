"""Image payloads in the labeling app: a path to a PNG/JPEG file, or a 2-D array, is drawn in half blocks."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from PIL import Image
from rich.console import Console
from tui_helpers import settle

from activeloop.loop import Loop
from activeloop.model import FocalLossClassifier
from activeloop.store import Pool
from activeloop.tui.app import LabelApp
from activeloop.tui.render import HalfBlockImage, image_array, render_payload


def stripes(h: int = 12, w: int = 16) -> np.ndarray:
    a = np.zeros((h, w), dtype=np.uint8)
    a[:, ::2] = 255
    return a


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_a_path_to_an_image_file_is_read_as_grayscale_pixels(tmp_path, suffix):
    path = tmp_path / f"x{suffix}"
    Image.fromarray(stripes()).save(path)
    img = image_array(str(path))
    assert img.shape == (12, 16)
    assert img[:, 0].mean() > 200 and img[:, 1].mean() < 60  # the stripes survive (JPEG only blurs them)
    assert image_array({"image": str(path), "caption": "x"}).shape == (12, 16)


def test_a_large_image_file_is_shrunk_keeping_its_aspect(tmp_path):
    path = tmp_path / "big.png"
    Image.fromarray(np.zeros((300, 600), dtype=np.uint8)).save(path)
    assert image_array(str(path)).shape == (32, 64)


def test_text_that_is_not_an_image_path_stays_text(tmp_path):
    (tmp_path / "notes.png").write_text("not a png")
    assert image_array("refund my card") is None
    assert image_array(str(tmp_path / "missing.png")) is None
    assert image_array(str(tmp_path / "notes.png")) is None
    assert image_array([1, 2, 3]) is None and image_array([["a", "b"]]) is None


def test_a_2d_array_payload_renders_as_half_blocks():
    console = Console(width=60, record=True, color_system="truecolor")
    console.print(render_payload(stripes(4, 8).tolist()))
    lines = console.export_text().splitlines()
    assert lines and all(set(line) == {"▀"} for line in lines)


def test_the_app_shows_image_file_and_array_payloads_as_images(tmp_path):
    png = tmp_path / "a.png"
    Image.fromarray(stripes()).save(png)
    rng = np.random.default_rng(0)
    pool = Pool.create(tmp_path / "img.db", "img", ["ok", "defect"])
    pool.add(rng.normal(size=(2, 3)), payloads=[str(png), stripes(6, 6).tolist()])
    loop = Loop(pool, FocalLossClassifier(hidden=(8,), max_epochs=5))
    app = LabelApp(pool, annotator="ana", batch=2, loop=loop)
    shown = []

    async def main():
        async with app.run_test(size=(100, 40)) as pilot:
            await settle(pilot)
            for _ in range(2):
                shown.append(app.query_one("#example-body").content)
                await pilot.press("1")
                await settle(pilot)

    asyncio.run(main())
    pool.close()
    assert len(shown) == 2 and all(isinstance(r, HalfBlockImage) for r in shown)
    assert sorted(r.gray.shape for r in shown) == [(6, 6), (12, 16)]
