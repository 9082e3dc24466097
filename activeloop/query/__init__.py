"""Query strategies, the query engine, and modAL interop.

Strategies are plain functions over predicted probabilities (:func:`margin`, :func:`entropy` ...)
wrapped in small composable objects; :func:`resolve` turns a name into one; :class:`QueryEngine`
streams a :class:`~activeloop.store.Pool` through the model and hands out leased batches.
"""

from activeloop.query.coldstart import ColdStartSampler, cold_start_select, labels_until_all_seen
from activeloop.query.diversity import Diverse, coreset_select, kmeanspp_select
from activeloop.query.engine import Query, QueryEngine, sample_eval
from activeloop.query.imbalance import Base, Direct, Galaxy
from activeloop.query.modal import ModalMeasure, ModalSelector, from_modal
from activeloop.query.orders import class_margins, class_orders
from activeloop.query.registry import available, default_strategy, register, resolve
from activeloop.query.selector import Selector
from activeloop.query.strategies import (
    ClassBalanced,
    Context,
    MinorityLeaning,
    ProbaStrategy,
    RandomStrategy,
    Strategy,
    Wrapper,
    entropy,
    least_confidence,
    margin,
    minority_entropy,
    minority_least_confidence,
    minority_margin,
    minority_weights,
    random,
)
from activeloop.query.to_modal import ModalQuery, as_modal

__all__ = [
    "Base",
    "ClassBalanced",
    "ColdStartSampler",
    "Context",
    "Direct",
    "Diverse",
    "Galaxy",
    "MinorityLeaning",
    "ModalMeasure",
    "ModalQuery",
    "ModalSelector",
    "ProbaStrategy",
    "Query",
    "QueryEngine",
    "RandomStrategy",
    "Selector",
    "Wrapper",
    "Strategy",
    "as_modal",
    "available",
    "class_margins",
    "class_orders",
    "cold_start_select",
    "coreset_select",
    "default_strategy",
    "entropy",
    "from_modal",
    "kmeanspp_select",
    "labels_until_all_seen",
    "least_confidence",
    "margin",
    "minority_entropy",
    "minority_least_confidence",
    "minority_margin",
    "minority_weights",
    "random",
    "register",
    "resolve",
    "sample_eval",
]
