"""The labeling app, driven with Textual's pilot on real temporary SQLite pools.

Assertions are on what the database holds after each keystroke, not only on what the screen shows.
"""

from __future__ import annotations

import io
import sqlite3
import threading

import numpy as np
import pytest
from rich.console import Console
from fake_clock import FakeClock
from tui_helpers import CLASSES, digits_pool, drive, fast_loop, plain, settle, truth

from activeloop.loop import Loop
from activeloop.model import FocalLossClassifier
from activeloop.store import Pool
from activeloop.tui import run
from activeloop.tui.app import LabelApp
from activeloop.tui.render import HalfBlockImage, highlight_text, render_payload, vocabulary_from_featurizer
from activeloop.tui.widgets import HelpScreen, StatusPanel




def make_app(pool: Pool, *, annotator: str = "ana", batch: int = 10) -> LabelApp:
    return LabelApp(pool, annotator=annotator, batch=batch, loop=fast_loop(pool, batch))


def status_text(app: LabelApp) -> str:
    return plain(app.query_one("#status-text"))


def example_text(app: LabelApp) -> str:
    return plain(app.query_one("#example-body"))


@pytest.fixture
def pool(tmp_path):
    p = digits_pool(tmp_path / "digits.db")
    yield p
    p.close()


def test_class_hotkey_commits_the_label_before_the_next_example(pool):
    app = make_app(pool)

    async def scenario(pilot):
        first = app.current.query.example_id
        digit = truth(pool, first)
        await pilot.press(digit)
        assert pool.current_label(first) == digit  # in the database at the keystroke
        assert app.current.query.example_id != first
        assert [r["annotator"] for r in pool.export_labels() if r["example_id"] == first] == ["ana"]
        assert "session 1 ·" in status_text(app)

    drive(app, scenario)


def test_skip_releases_the_example_and_never_asks_this_annotator_again(pool):
    app = make_app(pool)

    async def scenario(pilot):
        skipped = app.current.query.example_id
        await pilot.press("s")
        assert pool.current_label(skipped) is None
        assert skipped not in {lease.example_id for lease in pool.active_leases()}
        assert skipped in pool.excluded_ids("ana")
        assert skipped not in pool.excluded_ids("bob")
        assert app.current.query.example_id != skipped

    drive(app, scenario)


def test_undo_retracts_the_last_label_and_shows_that_example_again(pool):
    app = make_app(pool)

    async def scenario(pilot):
        first = app.current.query.example_id
        await pilot.press(truth(pool, first))
        second = app.current.query.example_id
        await pilot.press("u")
        assert pool.current_label(first) is None
        assert pool.label_count(annotator="ana") == 0
        assert app.current.query.example_id == first
        assert "session 0 ·" in status_text(app)
        await pilot.press("7")  # relabel it differently; the example that was showing comes back next
        assert pool.current_label(first) == "7"
        assert app.current.query.example_id == second
        await pilot.press("backspace")
        assert pool.current_label(first) is None

    drive(app, scenario)


def test_undo_works_across_a_retrain_and_keeps_the_round(pool):
    app = make_app(pool, batch=4)

    async def scenario(pilot):
        labeled = []
        for _ in range(4):
            eid = app.current.query.example_id
            labeled.append(eid)
            await pilot.press(truth(pool, eid))
        await settle(pilot)  # the retrain started at the 4th label has landed
        rnd = pool.latest_round()
        assert rnd is not None and rnd.number == 1 and rnd.n_labels == 4
        assert "round 1" in status_text(app) and "macro-F1" in status_text(app)
        await pilot.press("u")
        assert pool.current_label(labeled[-1]) is None
        assert [pool.current_label(e) is not None for e in labeled] == [True, True, True, False]
        assert app.current.query.example_id == labeled[-1]
        assert pool.latest_round().number == 1  # undo never touches recorded rounds
        await pilot.press(truth(pool, labeled[-1]))
        assert pool.label_count(annotator="ana") == 4
        # once the queue chosen before the round runs out, the retrained model's picks come with predictions
        for _ in range(12):
            if app.current.query.predicted is not None:
                break
            await pilot.press("s")
            await settle(pilot)
        assert app.current.query.predicted in CLASSES and 0 < app.current.query.confidence <= 1

    drive(app, scenario)


class GatedClassifier(FocalLossClassifier):
    """The real model, whose fit waits for the test to open a gate (so "a retrain is running" is certain)."""

    gate = threading.Event()

    def fit(self, X, y, sample_weight=None, *, on_epoch=None):
        assert GatedClassifier.gate.wait(30)
        return super().fit(X, y, sample_weight, on_epoch=on_epoch)


def test_labeling_continues_while_a_retrain_runs_and_the_round_lands(pool):
    GatedClassifier.gate.clear()
    model = GatedClassifier(hidden=(16,), max_epochs=15, random_state=0)
    app = LabelApp(pool, annotator="ana", batch=3, loop=Loop(pool, model=model, batch_size=3))

    async def scenario(pilot):
        for digit in ("0", "1", "2"):
            await pilot.press(digit)
        assert app.session.retraining and app.query_one(StatusPanel).has_class("-training")
        # keep labeling from the prefetched queue while the round trains in its thread
        for _ in range(2):
            await pilot.press(truth(pool, app.current.query.example_id))
        assert pool.label_count(annotator="ana") == 5
        GatedClassifier.gate.set()
        await settle(pilot)
        assert not app.session.retraining and not app.query_one(StatusPanel).has_class("-training")
        assert pool.latest_round().number == 1 and pool.latest_round().n_labels == 3
        assert "round 1" in status_text(app)
        # 5 labels, round 1 trained on 3: the next retrain comes after 1 more label
        assert "1 label to retrain" in status_text(app)

    drive(app, scenario)


def test_retrain_key_starts_a_round_now(pool):
    app = make_app(pool, batch=50)

    async def scenario(pilot):
        await pilot.press("0", "1")  # two classes: enough for a round; far from the automatic one
        await pilot.press("r")
        await settle(pilot)
        assert pool.latest_round().number == 1
        assert "round 1" in status_text(app)

    drive(app, scenario)


def test_status_panel_shows_the_stop_verdict_once_a_round_exists(pool):
    app = make_app(pool, batch=50)

    async def scenario(pilot):
        assert "stop:" not in status_text(app)  # no round yet: nothing to judge
        await pilot.press("0", "1")
        await pilot.press("r")
        await settle(pilot)
        line = Loop(pool).stop_verdict().text
        assert line.startswith("stop: not yet — ") and line in status_text(app)

    drive(app, scenario)


def test_a_failing_retrain_is_shown_and_the_previous_model_kept(pool):
    app = make_app(pool, batch=2)

    async def scenario(pilot):
        await pilot.press("0")
        await pilot.press("0")  # two labels of one class: the round cannot train
        await settle(pilot)
        assert app.is_running
        assert pool.latest_round() is None
        assert "retrain failed" in status_text(app)
        assert app.session.loop.engine.model is model_before
        await pilot.press(truth(pool, app.current.query.example_id))  # labeling goes on
        assert pool.label_count(annotator="ana") == 3

    model_before = app.session.loop.engine.model
    drive(app, scenario)


def test_eval_toggle_labels_random_eval_examples_never_strategy_ones(tmp_path):
    pool = digits_pool(tmp_path / "d.db", eval_labels=False)
    app = make_app(pool)

    async def scenario(pilot):
        await pilot.press("e")
        await settle(pilot)
        item = app.current
        assert item.split == "eval" and item.query.strategy == "eval-random"
        assert pool.example(item.query.example_id)["split"] == "eval"
        await pilot.press(truth(pool, item.query.example_id))
        ids, _ = pool.labeled("eval")
        assert ids.tolist() == [item.query.example_id]
        assert pool.labeled("pool")[0].size == 0
        await pilot.press("e")
        assert app.current.split == "pool"

    drive(app, scenario)
    pool.close()


def test_two_annotators_never_get_the_same_example_and_a_reopen_resumes(tmp_path):
    path = tmp_path / "d.db"
    digits_pool(path).close()
    seen = {}

    def session(annotator):
        pool = Pool.open(path)
        app = make_app(pool, annotator=annotator)

        async def scenario(pilot):
            ids = [app.current.query.example_id] + [it.query.example_id for it in app.session.queues["pool"]]
            seen[annotator] = ids

        drive(app, scenario)
        pool.close()

    session("ana")
    session("bob")
    assert seen["ana"] and seen["bob"]
    assert not set(seen["ana"]) & set(seen["bob"])
    first_ana = seen["ana"]
    session("ana")  # reopened: her leased examples come back first, in the same order
    assert seen["ana"][: len(first_ana)] == first_ana


def test_a_label_on_an_example_someone_else_took_over_is_shown_and_the_app_moves_on(pool):
    pool.clock = clock = FakeClock()
    app = make_app(pool)

    async def scenario(pilot):
        shown = app.current.query.example_id
        clock.advance(3600)  # ana's leases lapse (30 min) while the example stays on her screen
        assert shown in pool.lease([shown], annotator="bob", strategy="manual")
        await pilot.press(truth(pool, shown))
        await pilot.pause()
        assert pool.current_label(shown) is None  # bob's live lease wins: nothing written
        assert app.current.query.example_id != shown and app.session.pending is None
        assert any("leased to 'bob'" in str(n.message) for n in app._notifications)
        await pilot.press(truth(pool, app.current.query.example_id))  # and labeling goes on
        assert pool.label_count(annotator="ana") == 1

    drive(app, scenario)


def test_help_screen_opens_and_closes(pool):
    app = make_app(pool)

    async def scenario(pilot):
        shown = app.current.query.example_id
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("1")  # hotkeys do nothing under the help screen
        assert pool.label_count() == 30  # only the imported eval labels
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        assert app.current.query.example_id == shown

    drive(app, scenario)


def test_quit_key_exits_and_keeps_the_queue_leased(pool):
    app = make_app(pool)

    async def scenario(pilot):
        await pilot.press("q")

    drive(app, scenario)
    assert app.return_value == 0
    assert len(pool.active_leases("ana")) >= 10


def test_empty_pool_shows_a_message_not_a_traceback(tmp_path):
    pool = Pool.create(tmp_path / "e.db", "empty", ["ok", "fraud"])
    app = LabelApp(pool, annotator="ana")

    async def scenario(pilot):
        assert app.current is None
        assert "Nothing left to label" in example_text(app)
        await pilot.press("1", "s", "u", "e")
        assert app.is_running

    drive(app, scenario)
    pool.close()


def test_project_without_classes_says_so(tmp_path):
    # Pool.create refuses fewer than two classes; a hand-edited database can still have none
    Pool.create(tmp_path / "n.db", "nothing", ["a", "b"]).close()
    with sqlite3.connect(tmp_path / "n.db") as con:
        con.execute("DELETE FROM classes")
    pool = Pool.open(tmp_path / "n.db")
    app = LabelApp(pool, annotator="ana")

    async def scenario(pilot):
        assert "no classes" in example_text(app)
        await pilot.press("1", "s", "r")
        assert app.is_running

    drive(app, scenario)
    pool.close()


@pytest.mark.parametrize("make", ["missing", "not-a-db"])
def test_run_refuses_an_unopenable_database_with_one_line(tmp_path, capsys, make):
    path = tmp_path / "x.db"
    if make == "not-a-db":
        path.write_bytes(b"this is not sqlite" * 100)
    assert run(path) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "activeloop label:" in err and "Traceback" not in err


def test_text_payload_highlights_terms_the_featurizer_knows():
    text = highlight_text("Refund my card now, card stolen", frozenset({"card", "stolen"}))
    marked = {text.plain[s.start : s.end] for s in text.spans}
    assert marked == {"card", "stolen"}
    vocab = vocabulary_from_featurizer({"kind": "tfidf", "vocabulary": {"card": 0, "refund": 1}}, None)
    assert vocab == {"card", "refund"}
    assert vocabulary_from_featurizer(None, b"not an npz") == frozenset()


def test_image_payload_draws_two_pixel_rows_per_text_row():
    img = np.zeros((8, 8))
    img[:, 3] = 16
    console = Console(width=40, record=True, color_system="truecolor")
    console.print(HalfBlockImage(img, scale=2))
    lines = console.export_text().splitlines()
    assert len(lines) == 8 and all(line == "▀" * 16 for line in lines)
    assert render_payload({"kind": "image", "shape": [2, 2]}, features=[0, 1, 2, 3]) is not None


def test_tabular_payload_is_a_field_value_table():
    console = Console(width=60, record=True)
    console.print(render_payload({"amount": 12.5, "merchant": "ACME"}))
    out = console.export_text()
    assert "amount" in out and "12.5" in out and "merchant" in out and "ACME" in out


def test_text_example_shows_its_text_with_the_featurizer_terms_highlighted(tmp_path):
    pool = Pool.create(tmp_path / "t.db", "tickets", ["ok", "fraud"])
    texts = ["card stolen refund please", "where is my parcel", "refund my card", "thanks all good"] * 5
    buf = io.BytesIO()
    np.savez(buf, vocabulary=np.array(["card", "refund", "stolen", "parcel"]), idf=np.ones(4))
    pool.set_featurizer({"kind": "tfidf-svd", "text_column": "body"}, buf.getvalue())
    rng = np.random.default_rng(0)
    pool.add(rng.normal(size=(len(texts), 4)), payloads=[{"body": t, "channel": "mail"} for t in texts])
    app = LabelApp(pool, annotator="ana", loop=fast_loop(pool))

    async def scenario(pilot):
        body = app.query_one("#example-body").content  # a Group: the text, a blank line, the other fields
        text = body.renderables[0]
        shown = pool.payloads([app.current.query.example_id])[0]["body"]
        assert text.plain == shown
        marked = {text.plain[s.start : s.end] for s in text.spans}
        assert marked == {w for w in shown.split() if w in {"card", "refund", "stolen", "parcel"}}

    drive(app, scenario)
    pool.close()


def test_a_retrain_thread_runs_at_a_lower_cpu_priority_and_leaves_the_callers_alone():
    import os
    import threading

    from activeloop.tui import app as app_module

    seen = {}

    def run():
        app_module._background_priority()
        seen["nice"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert seen["nice"] == max(before, app_module.RETRAIN_NICE)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before
