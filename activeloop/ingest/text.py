"""Which text featurizer an import uses: the project's stored one, or the one ``--featurizer`` names.

``tfidf`` (TF-IDF + SVD, fitted on the project's first text import) is the default;
``embed`` / ``embed:MODEL`` embeds with sentence-transformers (the ``embed`` extra). A project
keeps the featurizer of its first text import: asking for another one later is an error.
"""

from __future__ import annotations

from typing import Any

from activeloop.errors import ActiveloopError
from activeloop.ingest.embed import DEFAULT_MODEL, SentenceEmbedder
from activeloop.ingest.embed import KIND as EMBED_KIND
from activeloop.ingest.featurize import KIND as TFIDF_KIND
from activeloop.ingest.featurize import TextFeaturizer

__all__ = ["TEXT_KINDS", "parse_featurizer", "stored_featurizer", "check_same"]

TEXT_KINDS = (TFIDF_KIND, EMBED_KIND)


def parse_featurizer(option: str | None) -> tuple[str | None, str | None]:
    """``(kind, model)`` from ``--featurizer``: ``tfidf``, ``embed`` or ``embed:MODEL``; ``(None, None)`` when not given."""
    if option is None:
        return None, None
    name, _, model = option.strip().partition(":")
    name = name.lower()
    if name in ("tfidf", TFIDF_KIND) and not model:
        return TFIDF_KIND, None
    if name == EMBED_KIND:
        return EMBED_KIND, model.strip() or DEFAULT_MODEL
    raise ActiveloopError(f"--featurizer must be tfidf, embed or embed:MODEL, got {option!r}")


def stored_featurizer(spec: dict[str, Any] | None, state: bytes | None) -> TextFeaturizer | SentenceEmbedder | None:
    """The project's text featurizer, rebuilt from its spec; None when it has none."""
    if not spec or spec.get("kind") not in TEXT_KINDS:
        return None
    if spec["kind"] == EMBED_KIND:
        return SentenceEmbedder.from_spec(spec)
    return TextFeaturizer.from_state(spec, state)


def check_same(project: str, spec: dict[str, Any], kind: str | None, model: str | None) -> None:
    """Refuse a ``--featurizer`` other than the one the project already uses."""
    if kind is None:
        return
    have = spec.get("kind")
    if have == kind and (kind != EMBED_KIND or _same_model(spec.get("model"), model)):
        return
    if have == EMBED_KIND:
        now = f"embeds text with {spec.get('model')!r} (dimension {spec.get('dim')}, normalize={spec.get('normalize')})"
    else:
        now = f"featurizes text with TF-IDF + SVD (dimension {spec.get('dim')})"
    asked = f"embed:{model}" if kind == EMBED_KIND else "tfidf"
    raise ActiveloopError(
        f"project {project!r} {now}; this import asks for --featurizer {asked}. A project keeps one featurizer: "
        "leave --featurizer out to use it, or import into a new project"
    )


def _same_model(a: str | None, b: str | None) -> bool:
    return (a or "").lower().removeprefix("sentence-transformers/") == (b or "").lower().removeprefix("sentence-transformers/")
