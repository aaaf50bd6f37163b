"""Continual-learning metrics as pure functions of the accuracy matrix.

``R[i, j]`` is the test accuracy on task ``j`` after training on experience ``i`` (both 0-based,
``T`` experiences, ``T`` tasks). Definitions:

* average accuracy :math:`A = \\frac1T \\sum_j R_{T-1,j}` (Lopez-Paz & Ranzato 2017);
* backward transfer :math:`BWT = \\frac{1}{T-1} \\sum_{j<T-1} (R_{T-1,j} - R_{j,j})`
  (Lopez-Paz & Ranzato, "Gradient Episodic Memory", NeurIPS 2017);
* forgetting :math:`F = \\frac{1}{T-1} \\sum_{j<T-1} \\max_{l<T-1} (R_{l,j} - R_{T-1,j})`
  (Chaudhry et al., "Riemannian Walk", ECCV 2018): the drop of each old task from its best
  accuracy before the last experience to its final accuracy.

* learning accuracy :math:`LA = \\frac1T \\sum_j R_{j,j}`: each task right after learning it
  (Riemer et al. 2019), which falls when a learner loses plasticity on a long stream.

With one task BWT and forgetting are 0 by convention.

Stream learning evaluates one test set (the whole dataset's) after each of ``k`` chunks: ``R`` is
``k x 1`` and :func:`stream_summary` reports the final accuracy ``R[k-1, 0]`` (also under
``average_accuracy``, which it equals), the best accuracy over the stream and its last chunk.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "FORGETTING_DEFINITION",
    "average_accuracy",
    "backward_transfer",
    "forgetting",
    "learning_accuracy",
    "summarize",
    "stream_summary",
    "joint_summary",
]

FORGETTING_DEFINITION = "Chaudhry et al. 2018: mean over old tasks of max_{l<T-1} R[l,j] - R[T-1,j]"


def _square(R: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    R = np.asarray(R, dtype=float)
    if R.ndim != 2 or R.shape[0] != R.shape[1] or R.shape[0] == 0:
        raise ValueError(f"accuracy matrix must be square and non-empty, got shape {R.shape}")
    return R


def average_accuracy(R: Sequence[Sequence[float]] | np.ndarray) -> float:
    R = _square(R)
    return float(R[-1].mean())


def backward_transfer(R: Sequence[Sequence[float]] | np.ndarray) -> float:
    R = _square(R)
    T = R.shape[0]
    if T == 1:
        return 0.0
    return float(np.mean([R[-1, j] - R[j, j] for j in range(T - 1)]))


def forgetting(R: Sequence[Sequence[float]] | np.ndarray) -> float:
    R = _square(R)
    T = R.shape[0]
    if T == 1:
        return 0.0
    return float(np.mean([R[: T - 1, j].max() - R[-1, j] for j in range(T - 1)]))


def learning_accuracy(R: Sequence[Sequence[float]] | np.ndarray) -> float:
    """Mean accuracy of each task right after it was learned, :math:`\\frac1T \\sum_i R_{ii}`:
    what is left of plasticity (Riemer et al. 2019; the long-stream papers' learning accuracy).
    A late task learned badly shows here even when nothing is forgotten."""
    R = _square(R)
    return float(np.mean(np.diag(R)))


def summarize(R: Sequence[Sequence[float]] | np.ndarray) -> dict[str, float | str]:
    """All four metrics plus the forgetting definition, for results files."""
    return {
        "average_accuracy": average_accuracy(R),
        "learning_accuracy": learning_accuracy(R),
        "backward_transfer": backward_transfer(R),
        "forgetting": forgetting(R),
        "forgetting_definition": FORGETTING_DEFINITION,
    }


def stream_summary(R: Sequence[Sequence[float]] | np.ndarray) -> dict[str, float | int]:
    """Metrics of a stream-learning matrix ``R`` (``k x 1``: one test set after every chunk)."""
    R = np.asarray(R, dtype=float)
    if R.ndim != 2 or R.shape[1] != 1 or R.shape[0] == 0:
        raise ValueError(f"a stream-learning matrix is k x 1, got shape {R.shape}")
    return {
        "average_accuracy": float(R[-1, 0]),
        "final_accuracy": float(R[-1, 0]),
        "best_accuracy": float(R[:, 0].max()),
        "best_chunk": int(R[:, 0].argmax()),
    }


def joint_summary(R: Sequence[Sequence[float]] | np.ndarray) -> dict[str, float | None | str]:
    """Metrics of joint training: one row ``R[0, j]`` after a single phase on all ``T`` tasks.

    Average accuracy is the row's mean; backward transfer and forgetting are undefined (None).
    """
    R = np.asarray(R, dtype=float)
    if R.ndim != 2 or R.shape[0] != 1 or R.shape[1] == 0:
        raise ValueError(f"a joint-training matrix is 1 x T, got shape {R.shape}")
    return {
        "average_accuracy": float(R[-1].mean()),
        "backward_transfer": None,
        "forgetting": None,
        "forgetting_definition": "undefined: joint training has a single training phase",
    }
