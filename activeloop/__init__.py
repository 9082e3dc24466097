"""activeloop: active-learning annotation for class-imbalanced data."""

from activeloop.errors import ActiveloopError
from activeloop.store import Pool, RoundInfo

__all__ = ["ActiveloopError", "Pool", "RoundInfo"]
__version__ = "0.1.0"
