"""Stopping criteria and the one-line stop verdict (NumPy only)."""

from activeloop.stopping import criteria as _criteria
from activeloop.stopping import verdict as _verdict
from activeloop.stopping.criteria import *  # noqa: F403 - the package exports exactly what its modules export
from activeloop.stopping.verdict import *  # noqa: F403

__all__ = [*_criteria.__all__, *_verdict.__all__]
