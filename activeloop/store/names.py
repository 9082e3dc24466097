"""The names and texts a project holds: column limits, and the checks on a new project's name, classes and hotkeys.

Plain functions (no database): :class:`~activeloop.store.pool.Pool` calls them before it writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from activeloop.errors import ActiveloopError

__all__ = ["APP_KEYS", "DEFAULT_HOTKEYS", "KEY_LEN", "NAME_LEN", "label_text", "project_spec", "text", "unusable_hotkeys"]

DEFAULT_HOTKEYS = "123456789abcdfghijklmnoptvwxyz"
#: Keys the labeling app binds to its own actions: a class hotkey among them could never label.
APP_KEYS = {"s": "skip", "u": "undo", "backspace": "undo", "r": "retrain", "e": "eval split", "?": "help",
            "question_mark": "help", "q": "quit"}
NAME_LEN = 200  # projects.name, classes.name, annotators (String(200) columns)
KEY_LEN = 64  # labels.idempotency_key


def text(value: Any, what: str, limit: int) -> str:
    """A name as stored: refused (ActiveloopError) when the column cannot hold it on every back end."""
    value = str(value)
    if "\x00" in value:
        raise ActiveloopError(f"{what} {value!r} contains a NUL character")
    if len(value) > limit:
        raise ActiveloopError(f"{what} {value[:40]!r}... is {len(value)} characters long (at most {limit})")
    return value


def label_text(value: Any, limit: int = 200) -> str | None:
    """A descriptive text (a strategy's repr) cut to its column's width, NULs dropped."""
    return None if value is None else str(value).replace("\x00", "")[:limit]


def project_spec(
    name: str, classes: Sequence[str], hotkeys: Sequence[str] | None
) -> tuple[str, list[str], list[str]]:
    """A new project's ``(name, classes, hotkeys)`` as stored (default hotkeys filled in), or ActiveloopError."""
    classes = [text(c, "class name", NAME_LEN) for c in classes]
    name = text(name, "project name", NAME_LEN)
    if not name:
        raise ActiveloopError("a project needs a name")
    if len(classes) < 2:
        raise ActiveloopError(f"project {name!r}: needs at least two classes, got {classes}")
    if len(set(classes)) != len(classes) or any(not c for c in classes):
        raise ActiveloopError(f"project {name!r}: class names must be unique and non-empty: {classes}")
    if hotkeys is None:
        if len(classes) > len(DEFAULT_HOTKEYS):
            raise ActiveloopError(f"project {name!r}: {len(classes)} classes need explicit hotkeys")
        hotkeys = list(DEFAULT_HOTKEYS[: len(classes)])
    hotkeys = [text(h, "hotkey", 16) for h in hotkeys]
    if len(hotkeys) != len(classes) or len(set(hotkeys)) != len(hotkeys):
        raise ActiveloopError(f"project {name!r}: need one distinct hotkey per class, got {hotkeys}")
    if taken := [f"{h!r} ({APP_KEYS[h]})" for h in hotkeys if h in APP_KEYS]:
        raise ActiveloopError(f"project {name!r}: hotkey {', '.join(taken)} is the labeling app's own key; choose "
                              "others (the app keeps s, u, r, e, q, ? and backspace)")
    if bad := unusable_hotkeys(hotkeys):
        raise ActiveloopError(f"project {name!r}: {bad}")
    return name, classes, hotkeys


def unusable_hotkeys(hotkeys: Sequence[str]) -> str:
    """Why some of ``hotkeys`` can never label in the app (one of its own keys, blank, or holding a comma); "" if none."""
    bad = [k for k in hotkeys if k in APP_KEYS or not k.strip() or "," in k]
    if not bad:
        return ""
    return (f"hotkeys {bad} cannot label a class: the labeling app keeps s, u, r, e, q, ? and backspace for itself, "
            "and a key cannot be blank or hold a comma")
