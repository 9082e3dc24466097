"""Defaults shared across layers (a leaf module: it imports nothing from activeloop)."""

RANDOM_STATE: int = 0
"""activeloop's one seeding default, for :class:`~activeloop.loop.Loop`, :class:`~activeloop.query.QueryEngine`
and :class:`~activeloop.model.FocalLossClassifier`: the same data and labels give the same model and picks.
Pass ``random_state=None`` to any of them to draw fresh entropy instead."""
