"""The model checkpoint format: a magic header, a SHA-256 of the payload, then ``torch.save`` of plain values and tensors.

Loading uses ``torch.load(weights_only=True)``, so a checkpoint never unpickles an object.
Version 1 is the only format; checkpoints written before ``input_clip`` existed load unclipped.
"""

from __future__ import annotations

import hashlib
import io
from typing import Any

import numpy as np
import torch

from activeloop.errors import CheckpointError
from activeloop.model.training import build_mlp

__all__ = ["DIGEST_LEN", "MAGIC", "dump", "load"]

MAGIC = b"ACTIVELOOP-CKPT-1\n"
DIGEST_LEN = 32


def dump(model: Any) -> bytes:
    """The checkpoint bytes of a fitted :class:`~activeloop.model.FocalLossClassifier`."""
    params = {k: _plain(v) for k, v in model.get_params(deep=False).items()}
    if not isinstance(params["random_state"], (int, type(None))):
        params["random_state"] = None
    payload = {
        "format": 1,
        "params": params,
        "classes": model.classes_.tolist(),
        "classes_dtype": model.classes_.dtype.str,
        "n_features_in": int(model.n_features_in_),
        "hidden": [int(m.out_features) for m in model.net_ if isinstance(m, torch.nn.Linear)][:-1],
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.net_.state_dict().items()},
        "scaler_mean": torch.as_tensor(model.scaler_mean_),
        "scaler_scale": torch.as_tensor(model.scaler_scale_),
        "class_counts": torch.as_tensor(model.class_counts_),
        "class_prior": torch.as_tensor(model.class_prior_),
        "alpha": None if model.alpha_ is None else torch.as_tensor(model.alpha_),
        "temperature": float(model.temperature_),
        "n_epochs": int(model.n_epochs_),
        "best_epoch": int(model.best_epoch_),
    }
    if hasattr(model, "feature_names_in_"):
        payload["feature_names_in"] = [str(f) for f in model.feature_names_in_]
    buf = io.BytesIO()
    torch.save(payload, buf)
    body = buf.getvalue()
    return MAGIC + hashlib.sha256(body).digest() + body


def load(cls: type, data: Any) -> Any:
    """A fitted ``cls`` instance rebuilt from :func:`dump` bytes; :class:`CheckpointError` on anything else."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise CheckpointError(f"checkpoint must be bytes, got {type(data).__name__}")
    data = bytes(data)
    head = len(MAGIC) + DIGEST_LEN
    if len(data) <= head or not data.startswith(MAGIC):
        raise CheckpointError("not an activeloop model checkpoint (bad header)")
    digest, body = data[len(MAGIC):head], data[head:]
    if hashlib.sha256(body).digest() != digest:
        raise CheckpointError("model checkpoint is corrupt: checksum mismatch")
    try:
        p = torch.load(io.BytesIO(body), map_location="cpu", weights_only=True)
        saved = {"input_clip": None, **p["params"]}  # saved before input_clip existed: unclipped
        model = cls(**{k: (tuple(v) if k == "hidden" else v) for k, v in saved.items()})
        model.classes_ = np.asarray(p["classes"], dtype=np.dtype(p["classes_dtype"]))
        model.n_features_in_ = int(p["n_features_in"])
        if "feature_names_in" in p:
            model.feature_names_in_ = np.asarray(p["feature_names_in"], dtype=object)
        net = build_mlp(model.n_features_in_, list(p["hidden"]), len(model.classes_), None)
        net.load_state_dict(p["state_dict"])
        net.eval()
        model.net_ = net.to(model._torch_device())
        model.scaler_mean_ = p["scaler_mean"].numpy()
        model.scaler_scale_ = p["scaler_scale"].numpy()
        model.class_counts_ = p["class_counts"].numpy()
        model.class_prior_ = p["class_prior"].numpy()
        model.alpha_ = None if p["alpha"] is None else p["alpha"].numpy()
        model.temperature_ = float(p["temperature"])
        model.n_epochs_ = int(p["n_epochs"])
        model.best_epoch_ = int(p["best_epoch"])
        model.loss_curve_, model.validation_loss_ = [], []
    except CheckpointError:
        raise
    except Exception as exc:  # any malformed payload is a bad checkpoint
        raise CheckpointError(f"not a valid activeloop model checkpoint: {exc}") from exc
    return model


def _plain(v: Any) -> Any:
    """Parameters as plain python (tuples/arrays -> lists) for a weights_only checkpoint."""
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v
