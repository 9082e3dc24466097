"""The labeling app: one keystroke per decision, retraining and prefetching in background threads.

The app holds screen state only (what is shown, what runs); every rule of the session (what is
queued, undo, resuming leases, when to retrain, which picks go stale) is
:class:`~activeloop.session.LabelingSession`'s. Labels commit at the keystroke; the queue of examples
is leased, so a second annotator never sees the same ones, and a reopened session resumes them.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from functools import partial
from typing import Any

from textual import work
from textual.worker import get_current_worker
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Footer, Header

from activeloop.errors import ActiveloopError, LeaseError, PoolExhaustedError, UnreachableError
from activeloop.loop import Loop
from activeloop.session import LabelingSession, Pick
from activeloop.store import Pool, RoundInfo
from activeloop.store.names import unusable_hotkeys
from activeloop.tui.render import image_array, printable, render_payload, vocabulary_from_featurizer
from activeloop.tui.widgets import ClassesPanel, ExampleView, HelpScreen, StatusPanel, WhyPanel

RETRAIN_NICE = 10  # the retrain thread (and the threads it starts) yields the CPU to the UI thread
EPOCH_UPDATE_S = 0.2  # seconds between progress repaints (each costs the UI thread a frame)
UNREACHABLE = "database unreachable — retrying"  # shown while a kept keystroke waits for the database


class LabelApp(App[int]):
    """Label a pool's examples with one key each; the model retrains every ``batch`` labels.

    The parameters build the :class:`~activeloop.session.LabelingSession` (attribute ``session``)
    whose rules the keys apply.

    Parameters
    ----------
    pool : Pool
    annotator : str
        Who labels; leases, skips and undo are per annotator.
    batch : int
        Labels between automatic retrains, and examples fetched per query.
    strategy : str
        Query strategy name (see :func:`activeloop.query.resolve`), used when ``loop`` is None.
    loop : Loop, optional
        Default: ``Loop(pool, strategy=strategy, batch_size=batch)``.
    auto_retrain : bool, default True
        Retrain every ``batch`` labels; False leaves retraining to the ``r`` key.
    """

    CSS_PATH = "app.tcss"
    TITLE = "activeloop"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        Binding("s", "skip", "Skip"),
        Binding("u,backspace", "undo", "Undo"),
        Binding("r", "retrain", "Retrain"),
        Binding("e", "toggle_eval", "Eval split"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        pool: Pool,
        *,
        annotator: str = "default",
        batch: int = 10,
        strategy: str = "default",
        loop: Loop | None = None,
        auto_retrain: bool = True,
    ):
        super().__init__()
        self._clash = unusable_hotkeys(pool.hotkeys)  # a project made before keys were checked, or edited by hand
        self.session = LabelingSession(
            pool, annotator, loop=loop, batch=batch, strategy=strategy, auto_retrain=auto_retrain
        )
        self.pool = pool
        self.annotator = annotator
        self.mode = "pool"
        self.current: Pick | None = None
        self.prefetching: str | None = None
        self.note = ""
        self._payloads: dict[int, tuple[Any, Any]] = {}
        for i, (key, cls) in enumerate(zip(pool.hotkeys, pool.classes)):
            # class hotkeys come from the project; the Classes panel lists them, so the footer does not
            self.bind(key, f"label({i})", description=f"label {cls}", show=False)
        self._vocabulary: frozenset[str] = frozenset()
        self._last_epoch_post = 0.0
        self._text_key: str | None = None
        self._default_payload: dict[str, Any] | None = None

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="main"):
            with Vertical(id="left"):
                yield ExampleView(id="example")
                yield WhyPanel(id="why")
            with VerticalScroll(id="side"):
                yield ClassesPanel(id="classes")
                yield StatusPanel(id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"activeloop · {printable(self.pool.name)}"
        self.query_one("#classes").border_title = "classes"
        self.query_one("#status").border_title = "status"
        self.query_one("#why").border_title = "why this one"
        self.query_one(ExampleView).focus()
        self._set_mode("pool")
        if self._clash:  # the other classes still label; these keys do what the app binds them to
            self.notify(printable(self._clash), title="some classes have no usable hotkey", severity="warning",
                        timeout=60, markup=False)
        if not self.pool.classes:
            self.query_one(ExampleView).message(
                "no classes", f"Project {self.pool.name!r} has no classes, so there is nothing to label with.\n"
                "Create it with classes: activeloop init DB --classes a,b,...  (q quits)"
            )
            self._refresh_status()
            return
        spec, state = self.pool.featurizer
        self._vocabulary = vocabulary_from_featurizer(spec, state)
        spec = spec or {}
        self._text_key = spec.get("text_column")
        shape = spec.get("row_shape") if spec.get("kind") == "array" else None
        # arrays imported from .npy/.npz carry no payload: rows of a 2-D shape are drawn as images
        self._default_payload = {"kind": "image", "shape": list(shape)} if shape and len(shape) == 2 else None
        self.session.resume()
        self._refresh_status()
        self._advance()
        _freeze_heap()

    def on_unmount(self) -> None:
        gc.unfreeze()

    # ------------------------------------------------------------------ showing
    def _advance(self) -> None:
        """Show the next queued example of the current mode (fetching more in the background)."""
        view = self.query_one(ExampleView)
        if self.current is None:
            self.current = self.session.take(self.mode)
        self._maybe_prefetch()
        if self.current is not None:
            self._show(self.current)
            return
        self.query_one(WhyPanel).show_query(None, self.mode)
        if not self.pool.classes:
            return
        if self.prefetching == self.mode:
            view.message("fetching", "Choosing the next examples…")
        elif self.session.exhausted[self.mode]:
            what = "pool" if self.mode == "pool" else "eval"
            hint = "" if self.mode == "pool" else "\nImport eval examples with `activeloop import ... --split eval`."
            view.message("done", f"Nothing left to label in the {what} split for {self.annotator!r}.{hint}\n"
                                 "Press e to switch split, r to retrain, q to quit.")

    def _show(self, item: Pick) -> None:
        eid = item.query.example_id
        if eid not in self._payloads:
            payload = self.pool.payloads([eid])[0]
            self._payloads[eid] = (payload, self._features_if_needed(eid, payload))
        payload, features = self._payloads[eid]
        if payload is None and self._default_payload is not None:
            payload = self._default_payload
        view = self.query_one(ExampleView)
        height = view.scrollable_content_region.height or None
        img = image_array(payload, features)
        rest = tuple(k for k in payload if k not in ("image", "pixels")) if isinstance(payload, dict) else ()
        size_key = None if img is None else (img.shape, height, rest)
        view.show(f"example {eid} · {item.split}", render_payload(
            payload, features=features, vocabulary=self._vocabulary, max_height=height, text_key=self._text_key),
            size_key)
        self.query_one(WhyPanel).show_query(item.query, item.split)
        self._refresh_classes()

    def _features_if_needed(self, eid: int, payload: Any) -> Any:
        """The feature row, only for payloads drawn from features (image-by-shape, or no payload)."""
        if payload is None or (isinstance(payload, dict) and payload.get("kind") == "image" and image_array(payload) is None):
            return self.pool.features([eid])[0]
        return None

    def _refresh_classes(self) -> None:
        predicted = self.current.query.predicted if self.current is not None else None
        self.query_one(ClassesPanel).render_classes(
            self.pool.classes, self.pool.hotkeys, self.session.counts, predicted
        )

    def _refresh_status(self, *, from_db: bool = True) -> None:
        """Redraw the classes and status panels; ``from_db`` re-reads the counts (else they were kept locally)."""
        session = self.session
        if from_db:
            session.refresh_counts()
        self._refresh_classes()
        self.query_one(StatusPanel).show_status(
            session=session.labeled,
            total=session.total,
            round_number=None if session.latest is None else session.latest.number,
            metrics=None if session.latest is None else session.latest.metrics,
            until_retrain=session.until_retrain,
            mode=self.mode,
            note=self.note,
            verdict=session.verdict,
        )

    def _set_mode(self, mode: str) -> None:
        self.mode = mode
        self.sub_title = f"{printable(self.annotator)} · {mode} split"
        self.screen.set_class(mode == "eval", "-eval")

    # ------------------------------------------------------------------ keys
    def action_label(self, index: int) -> None:
        """Label the shown example as class ``index``; commits before the next example is shown.

        One try in the UI thread; when the database is unreachable the keystroke is kept (the
        example stays shown, further class keys ring the bell) and a worker writes it, once.
        """
        if self.current is None or self.session.pending is not None:
            self.bell()
            return
        try:
            self.session.label(self.current.query.example_id, self.pool.classes[index], retry_seconds=0)
        except UnreachableError:
            self.note = UNREACHABLE
            self._refresh_status(from_db=False)
            self._retry_pending()
            return
        except ActiveloopError as exc:
            self._label_refused(exc)
            return
        self._label_saved()

    def _label_saved(self) -> None:
        self.note = "" if self.note == UNREACHABLE else self.note
        self._payloads.pop(self.current.query.example_id, None)
        self.current = None
        self._advance()
        self._refresh_status(from_db=False)
        self._maybe_retrain()

    def _label_refused(self, exc: Exception) -> None:
        """Not saved: shown; an example leased to (or taken over by) someone else is dropped and the next one shown."""
        self.note = "" if self.note == UNREACHABLE else self.note
        if not isinstance(exc, LeaseError):
            self.notify(printable(str(exc)), title="label not saved", severity="error", markup=False)
            self._refresh_status(from_db=False)
            return
        self.notify(printable(str(exc)), title="taken by someone else", severity="warning", markup=False)
        self._payloads.pop(self.current.query.example_id, None)
        self.current = None
        self._advance()
        self._refresh_status(from_db=False)

    @work(thread=True, exclusive=True, group="pending-label", exit_on_error=False, description="pending label")
    def _retry_pending(self) -> None:
        """Worker thread: write the kept label (same key, so at most once) until the database answers."""
        while not get_current_worker().is_cancelled:
            try:
                self.session.retry_pending()
            except UnreachableError:
                continue  # each try already waited the pool's retry time
            except Exception as exc:  # shown, never raised
                self._from_thread(self._label_refused, exc)
            else:
                self._from_thread(self._label_saved)
            return

    def action_skip(self) -> None:
        """Release the shown example; it is not asked of this annotator again."""
        if self.current is None or self.session.pending is not None:
            self.bell()
            return
        try:
            self.session.skip(self.current.query.example_id)
        except ActiveloopError as exc:
            self.notify(printable(str(exc)), title="skip failed", severity="error", markup=False)
            return
        self._payloads.pop(self.current.query.example_id, None)
        self.current = None
        self._advance()

    def action_undo(self) -> None:
        """Retract this annotator's last label and show that example again."""
        if self.session.pending is not None:  # the kept label lands first
            self.bell()
            return
        try:
            pick = self.session.undo()
        except ActiveloopError as exc:
            self.notify(printable(str(exc)), title="undo failed", severity="error", markup=False)
            return
        if pick is None:
            self.notify("nothing to undo", severity="warning")
            return
        if self.current is not None:
            self.session.put_back(self.current)
        self.current = pick
        self._advance()
        self._refresh_status(from_db=False)

    def action_retrain(self) -> None:
        if self.session.retraining:
            self.notify("a retrain is already running")
            return
        self._start_retrain()

    def action_toggle_eval(self) -> None:
        """Switch between the pool split (strategy) and the eval split (random draws)."""
        if self.current is not None:
            self.session.put_back(self.current)
            self.current = None
        self._set_mode("eval" if self.mode == "pool" else "pool")
        self._refresh_status()
        self._advance()

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.pool.classes, self.pool.hotkeys, self.session.batch))

    def action_quit(self) -> None:
        """Quit; queued examples stay leased to this annotator and come back first next time."""
        self.exit(0)

    # ------------------------------------------------------------------ prefetch
    def _maybe_prefetch(self) -> None:
        """Fetch what the session wants queued for the current mode, one background query at a time."""
        if self.prefetching is not None or not self.pool.classes:
            return
        mode = self.mode
        n = self.session.wanted(mode)
        if n:
            self.prefetching = mode
            self.run_worker(partial(self._fetch, mode, n), thread=True,
                            group="prefetch", exit_on_error=False, description=f"prefetch {mode}")

    def _fetch(self, split: str, n: int) -> None:
        """Worker thread: query (or draw eval examples), lease them, and load their payloads."""
        try:
            picks = self.session.next_batch(split, n)
            ids = [p.query.example_id for p in picks]
            payloads = dict(zip(ids, self.pool.payloads(ids)))
            loaded = {i: (p, self._features_if_needed(i, p)) for i, p in payloads.items()}
        except PoolExhaustedError:
            self._from_thread(self._fetched, split, [], {}, True, None)
        except Exception as exc:  # a failing query is shown, never a crash
            self._from_thread(self._fetched, split, [], {}, False, exc)
        else:
            self._from_thread(self._fetched, split, picks, loaded, False, None)

    def _fetched(self, split: str, picks: list[Pick], loaded: dict, exhausted: bool, error: Exception | None) -> None:
        self.prefetching = None
        _freeze_heap()  # what the query imported or cached (torch loads modules lazily) lives on
        self._payloads.update(loaded)
        # after an error, do not retry in a tight loop; undo or a round try again
        self.session.extend(split, picks, exhausted=exhausted or error is not None)
        if error is not None:
            self.notify(printable(f"{type(error).__name__}: {error}"), title="query failed", severity="error", markup=False)
        if self.current is None:
            self._advance()
        else:
            self._maybe_prefetch()

    # ------------------------------------------------------------------ retrain
    def _maybe_retrain(self) -> None:
        if self.session.retrain_due:
            self._start_retrain()

    def _start_retrain(self) -> None:
        self.session.begin_retrain()
        self.note = ""
        self.query_one(StatusPanel).show_training(0, 1, "retraining…")
        self._refresh_status(from_db=False)
        self._retrain()

    @work(thread=True, exclusive=True, group="retrain", exit_on_error=False, description="retrain")
    def _retrain(self) -> None:
        """Worker thread: one round (fit a copy, evaluate, record); the app keeps labeling meanwhile.

        The round runs in a thread of its own at a lower CPU priority (:func:`_background_priority`),
        not in the worker pool's thread, which later workers (fetching the next batch) reuse.
        """

        out: dict[str, Any] = {}

        def run() -> None:
            _background_priority()
            try:
                out["info"] = self.session.fit_round(on_epoch=self._epoch_from_thread)
            except BaseException as exc:  # noqa: BLE001 - handed to the worker below, as if raised there
                out["exc"] = exc

        thread = threading.Thread(target=run, name="activeloop-retrain")
        thread.start()
        thread.join()
        exc = out.get("exc")
        if exc is None:
            self._from_thread(self._retrain_done, out["info"])
        elif isinstance(exc, Exception):  # the previous model stays; the error is shown, never raised
            self._from_thread(self._retrain_failed, exc)
        else:
            raise exc

    def _epoch_from_thread(self, epoch: int, max_epochs: int, loss: float) -> None:
        now = time.monotonic()
        if now - self._last_epoch_post >= EPOCH_UPDATE_S or epoch >= max_epochs:
            self._last_epoch_post = now
            self._from_thread(self._show_epoch, epoch, max_epochs, loss)

    def _show_epoch(self, epoch: int, max_epochs: int, loss: float) -> None:
        if self.session.retraining:
            self.query_one(StatusPanel).show_training(epoch, max_epochs, f"retraining: epoch {epoch}/{max_epochs}")

    def _retrain_done(self, info: RoundInfo) -> None:
        self.query_one(StatusPanel).show_training(None, None)
        try:
            for pick in self.session.after_round(info, fetch_in_flight=self.prefetching == "pool"):
                self._payloads.pop(pick.query.example_id, None)
        except ActiveloopError as exc:  # the round is recorded; its queue stays as it was
            self.notify(printable(str(exc)), title=f"round {info.number} recorded; queue not refreshed", severity="warning",
                        markup=False)
        m = info.metrics
        score = f"macro-F1 {m['macro_f1']:.2f}" if "macro_f1" in m else "no eval labels yet"
        self.notify(f"round {info.number} on {info.n_labels} labels: {score}", title="model updated")
        _freeze_heap()  # the round's model, and what the fit imported, live on
        self._refresh_status(from_db=False)
        self._maybe_retrain()
        if self.current is None:
            self._advance()
        else:
            self._maybe_prefetch()

    def _retrain_failed(self, exc: Exception) -> None:
        self.session.retrain_failed()
        _freeze_heap()
        self.query_one(StatusPanel).show_training(None, None)
        self.note = "retrain failed; previous model kept"
        self.notify(printable(str(exc)), title="retrain failed, previous model kept", severity="error", timeout=8,
                        markup=False)
        self._refresh_status()

    def _from_thread(self, callback: Any, *args: Any) -> None:
        """Hand a result to the UI thread; dropped when the app has already closed."""
        try:
            self.call_from_thread(callback, *args)
        except RuntimeError:
            pass


def _freeze_heap() -> None:
    """Move what is alive now out of reach of the cycle collector (until the app unmounts).

    Modules, torch, the model and the widget tree live as long as the app; full collections
    walking them (300k+ objects) otherwise stall a keystroke by 100+ ms, from the UI thread or
    from the training thread holding the GIL. Young garbage is collected first so it is not kept.
    """
    gc.collect(1)
    gc.freeze()


def _background_priority() -> None:
    """Lower this thread's CPU priority (Linux: a thread's nice value is its own, inherited by threads it starts).

    A keystroke then does not wait behind the retrain in the run queue (on 2 cores, p50 42 -> 25 ms
    with a retrain running; ``benchmarks/bench_tui_latency.py``). Elsewhere, or without
    permission, the retrain runs at the usual priority.
    """
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, max(os.getpriority(os.PRIO_PROCESS, tid), RETRAIN_NICE))
    except (AttributeError, OSError):
        pass
