"""Hostile text in the labeling app: payloads and class names are shown literally, never run, never crash it.

Driven with Textual's pilot on real SQLite pools; the assertions read what the widgets draw (their strips).
"""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from rich.console import Console
from textual.geometry import Region
from tui_helpers import drive, fast_loop, plain

from activeloop.errors import ActiveloopError
from activeloop.store import Pool
from activeloop.tui.app import LabelApp
from activeloop.tui.render import render_payload
from activeloop.tui.widgets import HelpScreen

MARKUP = "[/] [bold]b [@click=app.quit]quit[/] [link=https://example.com]x[/link] [2J"
CONTROL = "a\x1b[2J\x1b]0;pwned\x07b\x08\x7f\x9b31mc"


def drawn(widget) -> tuple[str, list]:
    """The characters a widget draws, and the styles of its segments."""
    strips = widget.render_lines(Region(0, 0, widget.size.width, widget.size.height))
    segments = [seg for strip in strips for seg in strip]
    return "".join(seg.text for seg in segments), [seg.style for seg in segments if seg.style is not None]


def control_characters(text: str) -> set[str]:
    return {ch for ch in text if (ord(ch) < 32 and ch != "\n") or 0x7F <= ord(ch) < 0xA0}


def one_payload_pool(path, payload, classes=("ok", "fraud")) -> Pool:
    pool = Pool.create(path, "hostile", list(classes))
    pool.add(np.random.default_rng(0).normal(size=(3, 4)), payloads=[payload] * 3)
    return pool


@pytest.mark.parametrize("payload", [
    {"note": MARKUP, "[bold]field[/]": 1},  # no text field: a field/value table
    {"text": MARKUP, "note": MARKUP},  # the text, then the other fields
    MARKUP,
])
def test_markup_in_a_payload_is_shown_literally_and_never_runs_an_action(tmp_path, payload):
    pool = one_payload_pool(tmp_path / "h.db", payload)
    app = LabelApp(pool, annotator="ana", loop=fast_loop(pool))

    async def scenario(pilot):
        text, styles = drawn(app.query_one("#example-body"))
        assert "[@click=app.quit]quit[/]" in text and "[/]" in text
        assert not any("@click" in (style.meta or {}) or style.link for style in styles)
        await pilot.press("1")
        assert app.is_running and pool.label_count() == 1

    drive(app, scenario)
    pool.close()


STAND_INS = "a␛[2J␛]0;pwned␇b␈␡"  # CONTROL as drawn: visible stand-ins, in place


@pytest.mark.parametrize("payload, shown", [(CONTROL, STAND_INS), ({"text": CONTROL}, STAND_INS),
                                            ({"note": CONTROL}, STAND_INS), (7, "7"), ([CONTROL], STAND_INS)])
def test_control_characters_never_reach_the_terminal(tmp_path, payload, shown):
    pool = one_payload_pool(tmp_path / "c.db", payload, classes=("ok", "x\x1b[2J"))
    app = LabelApp(pool, annotator="ana", loop=fast_loop(pool))

    async def scenario(pilot):
        body, _ = drawn(app.query_one("#example-body"))
        classes = plain(app.query_one("#classes"))
        assert control_characters(body + classes) == set()
        assert shown in body
        assert "x␛[2J" in classes

    drive(app, scenario)
    pool.close()


@pytest.mark.parametrize("payload", [
    {"image": [1, 2, 3], "shape": [2, 2]},
    {"pixels": [[1, 10**400], [2, 3]]},
    {"image": [1, 2, 3, 4], "shape": "ab"},
    {"image": [1, 2, 3, 4], "shape": 4},
    {"image": [[float("nan"), float("nan")], [float("nan"), float("nan")]]},
    {"image": [[0.0, float("inf")], [1.0, 2.0]]},
    [[1, 2], [3]],
])
def test_a_malformed_image_payload_is_drawn_or_tabled_never_a_crash(tmp_path, payload):
    console = Console(width=60, record=True, color_system="truecolor")
    console.print(render_payload(payload))
    assert console.export_text().strip()
    pool = one_payload_pool(tmp_path / "i.db", payload)
    app = LabelApp(pool, annotator="ana", loop=fast_loop(pool))

    async def scenario(pilot):
        await pilot.press("1")
        assert app.is_running and pool.label_count() == 1

    drive(app, scenario)
    pool.close()


def test_help_screen_shows_class_names_and_keys_literally(tmp_path):
    classes = ["e\x1b[2Jx", "C:\\dir\\", "[/]", "[b]bold"]
    pool = one_payload_pool(tmp_path / "k.db", "hello", classes=classes)
    app = LabelApp(pool, annotator="ana", loop=fast_loop(pool))

    async def scenario(pilot):
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help-box Static").render())
        for shown in ("label as e␛[2Jx", "label as C:\\dir\\\n", "label as [/]", "label as [b]bold"):
            assert shown in text
        await pilot.press("escape")
        assert app.is_running

    drive(app, scenario)
    pool.close()


@pytest.mark.parametrize("key", ["", " ", ",", "a,b"])
def test_a_hotkey_that_cannot_be_pressed_is_refused_when_the_project_is_made(tmp_path, key):
    with pytest.raises(ActiveloopError, match="cannot label a class"):
        Pool.create(tmp_path / "k.db", "keys", ["a", "b"], hotkeys=["1", key])
    assert not (tmp_path / "k.db").exists()  # checked before anything is written


def test_an_old_project_whose_hotkey_clashes_opens_with_a_warning_and_its_other_classes_label(tmp_path):
    """A project made before hotkeys were checked (or edited by hand) still opens: the app says which class keys it
    keeps for itself, and every other class labels by its key."""
    Pool.create(tmp_path / "old.db", "old", ["spam", "ham"], hotkeys=["1", "2"]).close()
    with sqlite3.connect(tmp_path / "old.db") as con:
        con.execute("UPDATE classes SET hotkey = 's' WHERE name = 'spam'")
    with Pool.open(tmp_path / "old.db") as pool:
        pool.add(np.random.default_rng(0).normal(size=(4, 3)))
        app = LabelApp(pool, annotator="ana", loop=fast_loop(pool, 2), auto_retrain=False)

        async def scenario(pilot):
            assert any("['s'] cannot label a class" in str(n.message) for n in app._notifications)
            await pilot.press("2")
            await pilot.pause()

        drive(app, scenario)
        assert pool.class_counts() == {"spam": 0, "ham": 1}
