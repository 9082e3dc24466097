"""Optional dependencies: import one, or fail in one line naming the extra that brings it.

``pip install "activeloop[modal]"`` brings modAL (with the scikit-learn pin modAL needs),
``activeloop[embed]`` sentence-transformers and an offline model, ``activeloop[dask]`` dask.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from activeloop.errors import MissingExtraError

__all__ = ["require", "require_modal", "MODAL_SKLEARN_BELOW"]

MODAL_SKLEARN_BELOW = (1, 8)
"""modAL-python 0.4.2.1 passes ``force_all_finite`` to scikit-learn, which 1.8 removed (modAL issue #196)."""


def require(module: str, extra: str, purpose: str) -> ModuleType:
    """Import ``module``; a :class:`MissingExtraError` naming ``pip install "activeloop[extra]"`` if it is absent."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f'{purpose} needs the {extra!r} extra, which is not installed ({exc}): pip install "activeloop[{extra}]"'
        ) from None


def require_modal(module: str = "modAL", purpose: str = "modAL interop") -> ModuleType:
    """Import a modAL module, refusing a scikit-learn that modAL-python cannot run on."""
    import sklearn

    mod = require(module, "modal", purpose)
    found = tuple(int(p) for p in sklearn.__version__.split(".")[:2] if p.isdigit())
    if found >= MODAL_SKLEARN_BELOW:
        below = ".".join(map(str, MODAL_SKLEARN_BELOW))
        raise MissingExtraError(
            f"{purpose}: modAL-python needs scikit-learn < {below} (it passes force_all_finite, removed in {below}), "
            f'found {sklearn.__version__}: pip install "activeloop[modal]" installs a matching one'
        )
    return mod
