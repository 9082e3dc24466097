"""Text featurizer: TF-IDF + truncated SVD, saved with the project as plain arrays (no pickle).

The fitted state is an ``.npz`` blob (vocabulary, idf, SVD components) that is loaded with
``allow_pickle=False``; :meth:`TextFeaturizer.transform` recomputes the TF-IDF weights from
those arrays, so a text gets the same vector in every later import and in every process.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from activeloop.errors import ActiveloopError

KIND = "tfidf-svd"
VERSION = 1
DEFAULT_DIM = 64
MAX_TERMS = 50_000
TOKEN_PATTERN = r"(?u)\b\w\w+\b"


class TextFeaturizer:
    """TF-IDF (sublinear tf, l2 norm) followed by a projection onto SVD components.

    Parameters
    ----------
    vocabulary : array of str, shape (n_terms,)
        Terms in column order.
    idf : array of float, shape (n_terms,)
    components : array of float, shape (dim, n_terms)
        Rows of the fitted ``TruncatedSVD``.
    text_column : str, optional
        The column the featurizer was fitted on (informational).

    Attributes
    ----------
    dim : int
        Width of the vectors :meth:`transform` returns.
    """

    def __init__(self, vocabulary: np.ndarray, idf: np.ndarray, components: np.ndarray, *, text_column: str | None = None):
        self.vocabulary = np.asarray(vocabulary, dtype=str)
        self.idf = np.asarray(idf, dtype=np.float64)
        self.components = np.asarray(components, dtype=np.float32)
        self.text_column = text_column
        self.dim = int(self.components.shape[0])
        self._index = {t: i for i, t in enumerate(self.vocabulary.tolist())}
        self._projection = self.components.T.astype(np.float64)
        self._tfidf = None

    @classmethod
    def fit(cls, texts: Sequence[str], *, dim: int = DEFAULT_DIM, seed: int = 0, text_column: str | None = None) -> TextFeaturizer:
        """Fit on ``texts``; the dimension is ``dim``, or fewer when the vocabulary is tiny."""
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        tfidf = TfidfVectorizer(
            lowercase=True, token_pattern=TOKEN_PATTERN, sublinear_tf=True, max_features=MAX_TERMS, dtype=np.float64
        )
        try:
            Xt = tfidf.fit_transform(texts)
        except ValueError:  # empty vocabulary
            raise ActiveloopError("the text column has no words to featurize") from None
        n_terms = Xt.shape[1]
        k = min(dim, n_terms - 1, Xt.shape[0] - 1)
        if k < 1:
            raise ActiveloopError(
                f"too little text to featurize: {n_terms} distinct words in {Xt.shape[0]} rows (need at least 2 of each)"
            )
        svd = TruncatedSVD(n_components=k, algorithm="randomized", random_state=seed).fit(Xt)
        return cls(tfidf.get_feature_names_out(), tfidf.idf_, svd.components_, text_column=text_column)

    def transform(self, texts: Sequence[str], on_batch: Any = None) -> np.ndarray:
        """Feature vectors of shape (len(texts), dim), float32.

        scikit-learn's own ``TfidfVectorizer``, rebuilt from the stored vocabulary and idf, then
        the stored SVD components: the same vector for the same text in every import and process.
        ``on_batch(done, total)`` is called once at the end (the embedder calls it per batch).
        """
        X = np.asarray(self._vectorizer().transform(texts) @ self._projection, dtype=np.float32)
        if on_batch is not None:
            on_batch(len(X), len(X))
        return X

    def _vectorizer(self):
        if self._tfidf is None:
            from sklearn.feature_extraction.text import TfidfVectorizer

            tfidf = TfidfVectorizer(
                lowercase=True, token_pattern=TOKEN_PATTERN, sublinear_tf=True, vocabulary=self._index, dtype=np.float64
            )
            tfidf.idf_ = self.idf
            self._tfidf = tfidf
        return self._tfidf

    def spec(self) -> dict[str, Any]:
        """The JSON spec stored with the project."""
        return {
            "kind": KIND,
            "version": VERSION,
            "text_column": self.text_column,
            "dim": self.dim,
            "n_terms": int(len(self.vocabulary)),
            "lowercase": True,
            "sublinear_tf": True,
            "token_pattern": TOKEN_PATTERN,
        }

    def to_bytes(self) -> bytes:
        """The fitted state as an ``.npz`` blob of plain arrays."""
        buf = io.BytesIO()
        np.savez(buf, vocabulary=self.vocabulary, idf=self.idf, components=self.components)
        return buf.getvalue()

    @classmethod
    def from_state(cls, spec: dict[str, Any], state: bytes) -> TextFeaturizer:
        """Rebuild from a project's stored spec and state (never unpickles anything)."""
        if spec.get("kind") != KIND or spec.get("version") != VERSION:
            raise ActiveloopError(f"unknown featurizer {spec.get('kind')!r} version {spec.get('version')!r}")
        try:
            with np.load(io.BytesIO(state), allow_pickle=False) as z:
                return cls(z["vocabulary"], z["idf"], z["components"], text_column=spec.get("text_column"))
        except (ValueError, KeyError, OSError) as exc:
            raise ActiveloopError(f"the project's featurizer state is unreadable ({exc})") from None
