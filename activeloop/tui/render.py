"""Payload rendering: text with highlighted terms, field/value tables, small images in half blocks.

Pure functions from a payload (what ``Pool.payloads`` returns) to a Rich renderable; no database
access. The app decides *what* to show, these decide *how* it looks.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.segment import Segment
from rich.style import Style
from rich.table import Table
from rich.text import Text

__all__ = ["HalfBlockImage", "image_array", "render_payload", "vocabulary_from_featurizer"]

_WORD = re.compile(r"\w+", re.UNICODE)
TEXT_KEYS = ("text", "body", "message", "content", "description")
IMAGE_KEYS = ("image", "pixels")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
MAX_IMAGE_SIDE = 64  # pixels: a larger image file is shrunk (aspect kept) before it is drawn
HIGHLIGHT = "bold reverse"
# control characters would reach the terminal as they are (an escape sequence clears the screen, retitles the
# window ...): each is shown as a visible stand-in instead; tabs and newlines stay
_PRINTABLE = {c: 0x2400 + c for c in range(32) if c not in (9, 10)} | {0x7F: 0x2421} | {c: 0xFFFD for c in range(0x80, 0xA0)}


class HalfBlockImage:
    """A small grayscale image drawn with ``▀``: foreground = upper pixel, background = lower pixel.

    Two pixel rows per text row; each pixel is ``scale`` cells wide and ``scale`` pixel rows tall,
    so an 8x8 digit at ``scale=2`` takes 16 columns and 8 rows. ``scale=None`` picks the largest
    scale (up to 4) that fits the width Rich offers.
    """

    def __init__(self, pixels: Any, *, scale: int | None = None, max_height: int | None = None):
        a = np.asarray(pixels, dtype=np.float64)
        if a.ndim != 2 or a.size == 0:
            raise ValueError(f"an image must be a non-empty 2-D array, got shape {a.shape}")
        finite = np.isfinite(a)
        lo, hi = (float(a[finite].min()), float(a[finite].max())) if finite.any() else (0.0, 0.0)
        a = np.where(finite, a, lo)  # NaN / inf pixels are drawn as the darkest one
        self.gray = np.zeros_like(a) if hi <= lo else (a - lo) / (hi - lo)
        self.scale = scale
        self.max_height = max_height

    def _scale(self, max_width: int, max_height: int | None) -> int:
        if self.scale is not None:
            return max(1, int(self.scale))
        h, w = self.gray.shape
        s = max(1, min(3, max_width // w))
        if max_height is not None:
            while s > 1 and (h * s + 1) // 2 > max_height:
                s -= 1
        return s

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        s = self._scale(options.max_width, self.max_height or options.height)
        big = np.kron(self.gray, np.ones((s, s)))
        if len(big) % 2:
            big = np.vstack([big, np.zeros((1, big.shape[1]))])
        levels = np.rint(big * 255).astype(int)
        styles: dict[tuple[int, int], Style] = {}
        for top, bottom in zip(levels[0::2].tolist(), levels[1::2].tolist()):
            run_start = 0
            for x in range(1, len(top) + 1):  # one segment per run of equal cells
                if x < len(top) and top[x] == top[run_start] and bottom[x] == bottom[run_start]:
                    continue
                key = (top[run_start], bottom[run_start])
                style = styles.get(key)
                if style is None:
                    t, b = key
                    style = styles[key] = Style(color=f"rgb({t},{t},{t})", bgcolor=f"rgb({b},{b},{b})")
                yield Segment("▀" * (x - run_start), style)
                run_start = x
            yield Segment.line()


def load_image(path: Any) -> np.ndarray | None:
    """A PNG/JPEG file as a grayscale 2-D array (at most ``MAX_IMAGE_SIDE`` pixels a side); None if it is not one."""
    if not isinstance(path, str) or not path.lower().endswith(IMAGE_SUFFIXES) or "\n" in path:
        return None
    file = Path(path).expanduser()
    if not file.is_file():
        return None
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(file) as im:
            gray = im.convert("L")
            gray.thumbnail((MAX_IMAGE_SIDE, MAX_IMAGE_SIDE))
            return np.asarray(gray, dtype=np.float64)
    except (OSError, UnidentifiedImageError, ValueError):
        return None


def _pixels(value: Any, shape: Any = None) -> np.ndarray | None:
    """A non-empty 2-D numeric array from nested lists / an array (a flat one reshaped to ``shape``), or None."""
    try:
        a = np.asarray(value, dtype=np.float64)
        if a.ndim == 1 and shape:
            a = a.reshape([int(x) for x in shape])
    except (TypeError, ValueError, OverflowError):  # ragged, not numbers, too large, or the wrong size for shape
        return None
    return a if a.ndim == 2 and a.size else None


def image_array(payload: Any, features: Any = None) -> np.ndarray | None:
    """The 2-D pixel array a payload describes, or None when it is not an image.

    Accepts a path to a PNG/JPEG file, a 2-D array (nested lists), ``{"image": ...}`` (or
    ``"pixels"``) holding either, and ``{"kind": "image", "shape": [h, w]}`` whose pixels are the
    example's feature vector (passed as ``features``).
    """
    if isinstance(payload, str):
        return load_image(payload)
    if isinstance(payload, (list, tuple, np.ndarray)):
        return _pixels(payload)
    if not isinstance(payload, Mapping):
        return None
    for key in IMAGE_KEYS:
        value = payload.get(key)
        if isinstance(value, str):
            return load_image(value)
        if value is not None:
            return _pixels(value, payload.get("shape"))
    if payload.get("kind") == "image" and features is not None:
        f = np.asarray(features, dtype=np.float64).ravel()
        side = int(round(f.size**0.5))
        a = _pixels(f, payload.get("shape"))
        return a if a is not None or side * side != f.size else f.reshape(side, side)
    return None


def highlight_text(text: str, vocabulary: Iterable[str] | None) -> Text:
    """``text`` as a Rich Text with the words found in ``vocabulary`` (case-insensitive) highlighted."""
    text = printable(text)
    out = Text(text)
    if vocabulary:
        vocab = vocabulary if isinstance(vocabulary, (set, frozenset)) else {str(v).lower() for v in vocabulary}
        for m in _WORD.finditer(text):
            if m.group().lower() in vocab:
                out.stylize(HIGHLIGHT, m.start(), m.end())
    return out


def field_table(fields: Mapping[str, Any]) -> Table:
    """A two-column field/value table."""
    table = Table(show_header=True, header_style="bold", expand=False, box=None, pad_edge=False)
    table.add_column("field", style="dim", no_wrap=True)
    table.add_column("value", overflow="fold")
    for key, value in fields.items():
        table.add_row(Text(printable(str(key))), Text(_short(value)))  # Text, not str: a str cell is markup
    return table


def printable(text: str) -> str:
    """``text`` safe to draw: line ends as newlines, other control characters as visible stand-ins (␛ for ESC)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").translate(_PRINTABLE)


def _short(value: Any, limit: int = 200) -> str:
    text = printable(f"{value:.6g}" if isinstance(value, float) else str(value))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_payload(
    payload: Any,
    *,
    features: Any = None,
    vocabulary: Iterable[str] | None = None,
    max_height: int | None = None,
    text_key: str | None = None,
) -> Any:
    """A Rich renderable for one example's payload.

    Parameters
    ----------
    payload : str, dict, list or None
        A path to a PNG/JPEG file or a 2-D array is drawn as an image; other text is wrapped with
        known terms highlighted; a dict with an image (see :func:`image_array`)
        is drawn in half blocks with its other fields below; a dict with a text field shows the text
        then the rest as a table; any other dict is a field/value table.
    features : array-like of shape (n_features,), optional
        The example's feature vector, for payloads that say ``{"kind": "image", "shape": ...}``,
        and shown (first values) when there is no payload at all.
    vocabulary : iterable of str, optional
        Terms the featurizer knows; they are highlighted in text.
    max_height : int, optional
        Rows an image may take.
    text_key : str, optional
        The field that holds the text (the featurizer's text column), tried before the usual names.
    """
    if payload is None or payload == "" or payload == {}:
        if features is not None:
            f = np.asarray(features).ravel()
            head = ", ".join(f"{x:.3g}" for x in f[:32]) + (" …" if f.size > 32 else "")
            return Text(f"(no payload) features: [{head}]", style="dim")
        return Text("(no payload)", style="dim")
    if isinstance(payload, (str, list, tuple)):
        img = image_array(payload)
        if img is not None:
            return HalfBlockImage(img, max_height=max_height)
    if isinstance(payload, str):
        return highlight_text(payload, vocabulary)
    if isinstance(payload, Mapping):
        img = image_array(payload, features)
        if img is not None:
            rest = {k: v for k, v in payload.items() if k not in IMAGE_KEYS and k not in ("kind", "shape")}
            parts: list[Any] = [HalfBlockImage(img, max_height=max_height)]
            if rest:
                parts.append(field_table(rest))
            return Group(*parts)
        keys = ((text_key,) if text_key else ()) + TEXT_KEYS
        text_key = next((k for k in keys if isinstance(payload.get(k), str)), None)
        if text_key is not None:
            rest = {k: v for k, v in payload.items() if k != text_key}
            parts = [highlight_text(payload[text_key], vocabulary)]
            if rest:
                parts += [Text(""), field_table(rest)]
            return Group(*parts)
        return field_table(payload)
    if isinstance(payload, Sequence):
        return field_table({str(i): v for i, v in enumerate(payload)})
    return Text(printable(str(payload)))


def vocabulary_from_featurizer(spec: Mapping[str, Any] | None, state: bytes | None, *, top: int = 5000) -> frozenset[str]:
    """Best-effort set of terms a featurizer knows, for highlighting.

    Looks for ``vocabulary`` / ``vocab`` / ``terms`` in the spec (a list, or a dict term -> index)
    and in the ``.npz`` state blob; when idf weights are stored beside them, keeps the ``top``
    highest-weighted (rarest, most informative) terms. Returns an empty set when there is none.
    """
    terms: list[str] = []
    weights: np.ndarray | None = None
    if isinstance(spec, Mapping):
        for key in ("vocabulary", "vocab", "terms"):
            v = spec.get(key)
            if isinstance(v, Mapping):
                terms = sorted(v, key=lambda t: v[t])
            elif isinstance(v, (list, tuple)):
                terms = [str(t) for t in v]
            if terms:
                break
        for key in ("idf", "weights"):
            if isinstance(spec.get(key), (list, tuple)):
                weights = np.asarray(spec[key], dtype=np.float64)
    if not terms and state:
        try:
            with np.load(io.BytesIO(state), allow_pickle=False) as z:
                for key in ("vocabulary", "vocab", "terms"):
                    if key in z.files:
                        terms = [str(t) for t in z[key].tolist()]
                        break
                for key in ("idf", "idf_", "weights"):
                    if key in z.files:
                        weights = np.asarray(z[key], dtype=np.float64).ravel()
                        break
        except Exception:  # not an npz, or pickled objects: no highlighting, never a crash
            terms = []
    if not terms:
        return frozenset()
    if weights is not None and len(weights) == len(terms) and len(terms) > top:
        keep = np.argsort(-weights, kind="stable")[:top]
        terms = [terms[i] for i in keep]
    return frozenset(t.lower() for t in terms if " " not in t)
