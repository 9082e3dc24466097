"""The labeling app's widgets: the example, the classes with their counts, the why, the status, help.

Widgets only display what the app hands them; they never touch the database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Label, ProgressBar, Static

from activeloop.tui.render import printable


class ExampleView(VerticalScroll):
    """The example being labeled: a scrollable payload under a one-line caption."""

    can_focus = True

    def compose(self) -> ComposeResult:
        yield Static(id="example-body")

    _size_key: Any = None

    def show(self, title: str, renderable: Any, size_key: Any = None) -> None:
        """Replace the shown example and scroll back to its top.

        ``size_key``: equal, non-None keys promise equal heights (e.g. images of one shape), so the
        screen is only repainted, not laid out again (the bulk of a keystroke's cost otherwise).
        """
        self.border_title = title
        same = size_key is not None and size_key == self._size_key
        self._size_key = size_key
        self.query_one("#example-body", Static).update(renderable, layout=not same)
        if self.scroll_y:
            self.scroll_home(animate=False)

    def message(self, title: str, text: str) -> None:
        """Show a message (nothing to label, no classes ...) in place of an example."""
        self.show(title, Text(text, style="bold"), None)


class ClassesPanel(Static):
    """Each class with its hotkey, a bar of its labeled count, and the count; the prediction marked."""

    _shown_rows = -1
    BAR_WIDTH = 10

    def render_classes(
        self, classes: Sequence[str], hotkeys: Sequence[str], counts: Mapping[str, int], predicted: str | None
    ) -> None:
        if not classes:
            self.update(Text("no classes in this project", style="bold"))
            return
        top = max([int(counts.get(c, 0)) for c in classes] + [1])
        key_w = max(len(k) for k in hotkeys) + 3
        name_w = max(4, (self.content_region.width or 32) - key_w - self.BAR_WIDTH - 9)
        lines = []
        for key, cls in zip(hotkeys, classes):
            n = int(counts.get(cls, 0))
            filled = round(self.BAR_WIDTH * n / top) if n else 0
            mark = cls == predicted
            shown = printable(cls)
            name = (shown if len(shown) <= name_w else shown[: name_w - 1] + "…") + (" ◀" if mark else "")
            lines.append(Text.assemble(
                (f"[{key}]".ljust(key_w), "bold"),
                (name.ljust(name_w + 2), "bold" if mark else ""),
                ("█" * filled, "green"), ("·" * (self.BAR_WIDTH - filled), "dim"),
                f"{n:>6}",
            ))
        same_size = self._shown_rows == len(lines)
        self._shown_rows = len(lines)
        self.update(Text("\n", no_wrap=True).join(lines), layout=not same_size)  # same rows: repaint only


class WhyPanel(Static):
    """The model's prediction and confidence, and why this example was asked."""

    def show_query(self, query: Any, split: str) -> None:
        if query is None:
            self.update("", layout=False)
            return
        if query.predicted is None:
            pred = Text("model: no prediction", style="dim")
        else:
            conf = "" if query.confidence is None else f" ({query.confidence:.0%})"
            pred = Text.assemble("model says ", (printable(str(query.predicted)), "bold"), conf)
        score = "" if not query.score else f" · score {query.score:.3g}"
        why = Text.assemble(("why: ", "dim"), str(query.reason), (f"{score}", "dim"))
        strategy = Text.assemble(("strategy: ", "dim"), str(query.strategy), (f" · {split} split", "dim"))
        self.update(Text("\n").join([pred, why, strategy]), layout=False)  # fixed height in app.tcss


class StatusPanel(Vertical):
    """Label counts, the latest round's eval metrics and stop verdict, the next retrain, and a training progress bar."""

    _shown_lines = -1

    def compose(self) -> ComposeResult:
        yield Static(id="status-text")
        yield Label("", id="train-label")
        yield ProgressBar(total=100, show_eta=False, id="train-progress")

    def show_status(
        self,
        *,
        session: int,
        total: int,
        round_number: int | None,
        metrics: Mapping[str, Any] | None,
        until_retrain: int,
        mode: str,
        note: str = "",
        verdict: Any = None,
    ) -> None:
        """``verdict``: an ``activeloop.stopping.Verdict`` (its ``text`` and ``stop``), shown as given."""
        lines = [
            Text.assemble(("session ", "dim"), (str(session), "bold"), (" · total ", "dim"), (str(total), "bold")),
            Text.assemble(
                ("round ", "dim"), (str(round_number or 0), "bold"),
                f" · {until_retrain} label{'s' if until_retrain != 1 else ''} to retrain",
            ),
        ]
        if not metrics or "macro_f1" not in metrics:
            lines.append(Text("no eval labels yet", style="dim italic"))
        else:
            lines.append(
                Text.assemble(
                    ("macro-F1 ", "dim"), f"{metrics['macro_f1']:.2f}",
                    (" · bal-acc ", "dim"), f"{metrics.get('balanced_accuracy', float('nan')):.2f}",
                )
            )
            lines.append(
                Text.assemble(
                    ("minority recall ", "dim"), f"{metrics.get('minority_recall', float('nan')):.2f}",
                    (f" · {metrics.get('n_eval', '?')} eval", "dim"),
                )
            )
        if verdict is not None:
            lines.append(Text(verdict.text, style="bold green" if verdict.stop else "dim"))
        if mode == "eval":
            lines.append(Text("EVAL SPLIT: random draws", style="bold reverse"))
        if note:
            lines.append(Text(note, style="bold"))
        same_size = len(lines) == self._shown_lines
        self._shown_lines = len(lines)
        self.query_one("#status-text", Static).update(Text("\n").join(lines), layout=not same_size)

    def show_training(self, epoch: int | None, max_epochs: int | None, text: str = "") -> None:
        """``epoch=None`` hides the progress bar; otherwise shows epoch/max.

        Only showing or hiding the bar lays the screen out again; an epoch's update repaints the
        one-row label and the bar (both fixed-size in app.tcss).
        """
        toggled = self.has_class("-training") != (epoch is not None)
        self.set_class(epoch is not None, "-training")
        self.query_one("#train-label", Label).update(text, layout=toggled)
        if epoch is not None:
            self.query_one("#train-progress", ProgressBar).update(total=max_epochs or 1, progress=epoch)


HELP = """\
[b]activeloop — labeling keys[/b]

{classes}

  [b]s[/b]            skip (not asked of you again)
  [b]u[/b] / [b]Backspace[/b]  undo your last label and show it again
  [b]r[/b]            retrain now
  [b]e[/b]            toggle eval-split labeling (random draws)
  [b]?[/b]            this help
  [b]q[/b]            quit (your unlabeled examples stay reserved)

Every label is saved the moment you press its key.
After every {batch} labels the model retrains in the background.
"""


class HelpScreen(ModalScreen[None]):
    """Key reference; any of Escape, ? or q closes it."""

    BINDINGS = [
        Binding("escape", "dismiss_help", "Close"),
        Binding("question_mark", "dismiss_help", "Close", show=False),
        Binding("q", "dismiss_help", "Close", show=False),
    ]

    def __init__(self, classes: Sequence[str], hotkeys: Sequence[str], batch: int):
        super().__init__()
        self._class_names = classes
        self._hotkeys = hotkeys
        self._batch = batch

    def compose(self) -> ComposeResult:
        # class names and keys go in as $variables: Textual inserts them as plain text, never as markup
        rows = "\n".join(f"  [b]$key{i}[/b]            label as $class{i}" for i in range(len(self._class_names)))
        names = {f"key{i}": printable(k) for i, k in enumerate(self._hotkeys)}
        names |= {f"class{i}": printable(c) for i, c in enumerate(self._class_names)}
        text = Content.from_markup(HELP.format(classes=rows or "  (no classes)", batch=self._batch), **names)
        with VerticalScroll(id="help-box"):
            yield Static(text)

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
