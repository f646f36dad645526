"""Training health: findings about how training went, each a reason and a plain sentence.

The operator turns them into the job's `TrainingHealthy` condition and a Warning Event each
(`kubetrain.api.contract.HealthFinding`). While a network trains, the findings that the loss
history shows so far go into `progress.json` every epoch (`live_findings`); at the end,
`findings` adds those that need the evaluation: overfitting, and underfitting (a model that
scores no better than a naive baseline on the same held-out rows).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

NON_FINITE_LOSS = "NonFiniteLoss"
EXPLODING_LOSS = "ExplodingLoss"
VANISHING_GRADIENTS = "VanishingGradients"
SATURATED_ACTIVATIONS = "SaturatedActivations"
OVERFITTING = "Overfitting"
UNDERFITTING = "Underfitting"

OVERFIT_GAP = 0.10  # accuracy/F1/R² points between train and validation
OVERFIT_RATIO = 1.5  # error metrics: validation error / train error
EXPLODE_FACTOR = 100.0
VANISHED_NORM = 1e-6
SATURATED_FRACTION = 0.5
"""Half the hidden units dead (ReLU) or pinned at their limits (tanh, sigmoid)."""

Finding = dict[str, str]


def _finding(reason: str, message: str) -> Finding:
    return {"reason": reason, "message": message}


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def live_findings(history: list[dict[str, Any]]) -> list[Finding]:
    """What the per-epoch history of a network shows: loss, gradients, activations."""
    out: list[Finding] = []
    bad = next((h["epoch"] for h in history if not _finite(h.get("train_loss"))), None)
    if bad is not None:
        out.append(_finding(NON_FINITE_LOSS,
            f"the training loss became NaN or infinite at epoch {bad}; training stopped there. "
            "Lower the learning rate or check the data for extreme values."))  # fmt: skip
    finite = [float(h["train_loss"]) for h in history if _finite(h.get("train_loss"))]
    if len(finite) >= 2 and finite[0] > 0 and max(finite[1:]) > EXPLODE_FACTOR * finite[0]:
        out.append(_finding(EXPLODING_LOSS,
            f"the training loss exploded (from {finite[0]:.3g} to {max(finite):.3g}); "
            "lower the learning rate or add gradient clipping."))  # fmt: skip
    norms = [float(h["grad_norm"]) for h in history if _finite(h.get("grad_norm"))]
    if norms and max(norms[-3:]) < VANISHED_NORM:
        out.append(_finding(VANISHING_GRADIENTS,
            f"gradients vanished (norm {max(norms[-3:]):.1e} in the last epochs); the network "
            "stopped learning. Try a higher learning rate, another activation or fewer "
            "layers."))  # fmt: skip
    saturated = [float(h["saturated"]) for h in history if _finite(h.get("saturated"))]
    if saturated and min(saturated[-2:]) >= SATURATED_FRACTION:
        out.append(_finding(SATURATED_ACTIVATIONS,
            f"{saturated[-1]:.0%} of the hidden units are saturated (dead ReLUs, or tanh/sigmoid "
            "pinned at their limits); lower the learning rate, scale the inputs or change the "
            "activation."))  # fmt: skip
    return out


def overfitting(
    train: dict[str, Any], validation: dict[str, Any] | None, metric: str, maximize: bool
) -> list[Finding]:
    if validation is None:
        return []
    tr, va = train.get(metric), validation.get(metric)
    if not _finite(tr) or not _finite(va):
        return []
    tr, va = float(tr), float(va)  # type: ignore[arg-type]
    gap = tr - va > OVERFIT_GAP if maximize else tr > 0 and va / tr > OVERFIT_RATIO
    if not gap:
        return []
    return [_finding(OVERFITTING,
        f"possible overfitting: {metric} is {tr:.4g} on training data but {va:.4g} on "
        "validation data; add regularisation or more data.")]  # fmt: skip


def underfitting(value: Any, naive: Any, metric: str, maximize: bool, what: str) -> list[Finding]:
    """The model is no better than the naive baseline on the same held-out rows."""
    if not _finite(value) or not _finite(naive):
        return []
    if (value > naive + 1e-9) if maximize else (value < naive - 1e-9):
        return []
    return [_finding(UNDERFITTING,
        f"the model scores no better than a naive baseline ({what}): {metric} {value:.4g} vs "
        f"{naive:.4g}; try another model, more features or more training.")]  # fmt: skip


def naive_scores(
    task: str, y_train: np.ndarray, y_held_out: np.ndarray, n_classes: int
) -> tuple[dict[str, Any], str]:
    """The metrics of the naive prediction on held-out rows, and what that prediction is.

    Classification: always the most frequent training class, with the training class
    frequencies as probabilities. Regression: always the training mean.
    """
    from kubetrain_trainer.evaluation.metrics import classification_scores, regression_scores

    if task == "classification":
        counts = np.bincount(np.asarray(y_train, dtype=np.int64), minlength=n_classes)
        prior = counts / max(counts.sum(), 1)
        pred = np.full(len(y_held_out), int(np.argmax(counts)))
        proba = np.tile(prior, (len(y_held_out), 1))
        scores = classification_scores(y_held_out, pred, proba, n_classes)
        return scores, "always the most frequent class"
    mean = float(np.mean(np.asarray(y_train, dtype=np.float64)))
    return regression_scores(y_held_out, np.full(len(y_held_out), mean)), "always the mean"


def saturation(net: Any, batch: Any) -> float | None:
    """The fraction of hidden units that are saturated on `batch` (None without activations).

    ReLU/GELU units that output nothing for any row are dead; tanh and sigmoid units whose
    outputs all sit within 1% of their limits are pinned.
    """
    import torch
    from torch import nn

    kinds = (nn.ReLU, nn.GELU, nn.Tanh, nn.Sigmoid)
    counts = [0, 0]  # saturated units, all units

    def hook(module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
        flat = output.detach().reshape(output.shape[0], -1)
        if isinstance(module, nn.Tanh):
            pinned = (flat.abs() > 0.99).all(dim=0)
        elif isinstance(module, nn.Sigmoid):
            pinned = ((flat < 0.01) | (flat > 0.99)).all(dim=0)
        else:
            pinned = (flat <= 0).all(dim=0)
        counts[0] += int(pinned.sum())
        counts[1] += int(pinned.numel())

    handles = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, kinds)]
    if not handles:
        return None
    was_training = net.training
    try:
        net.eval()
        with torch.no_grad():
            net(batch)
    finally:
        net.train(was_training)
        for handle in handles:
            handle.remove()
    return counts[0] / counts[1] if counts[1] else None
