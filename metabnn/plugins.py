"""Avalanche plugins of metabnn; each does one thing.

* :class:`TaskBatchNormPlugin` — the task-incremental protocol of Laborieux et al. (2021): after
  each experience the BatchNorm state is saved under the experience's task label and restored
  whenever that task is evaluated.
* :class:`AccuracyMatrixPlugin` — after every training epoch, the test accuracy on every task of
  the stream: per-epoch forgetting curves and the accuracy matrix ``R[i, j]``. It evaluates on
  tensors in large batches instead of through Avalanche's ``eval()``, which would rebuild
  DataLoaders and metric objects for every task after every epoch.
* :class:`ProgressPlugin` — a tqdm progress bar per epoch.
* :class:`GrowingHeadPlugin` — the class-incremental head: outputs of classes not seen yet are
  masked out, in training and in evaluation.
* :class:`IterationBudgetPlugin` — an experience trained for a number of minibatches rather
  than of epochs.
* :class:`OODPlugin` — at the end of every experience, how well the model's uncertainty tells
  the just-learned task's test images from another dataset's (AUROC, :mod:`metabnn.uncertainty`).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager
from typing import Any

import torch
from avalanche.core import SupervisedPlugin

from metabnn.data import IterationLoader, dataset_tensors
from metabnn.evaluation import accuracy
from metabnn.models import batchnorm_state, load_batchnorm_state

__all__ = [
    "TaskBatchNormPlugin",
    "AccuracyMatrixPlugin",
    "ProgressPlugin",
    "GrowingHeadPlugin",
    "IterationBudgetPlugin",
    "OODPlugin",
    "task_label_of",
]


def task_label_of(experience: Any) -> int:
    """The single task label of an experience (0 when the stream has none)."""
    label = getattr(experience, "task_label", None)
    if label is not None:
        return int(label)
    labels = getattr(experience, "task_labels", None) or [0]
    return int(labels[0])


class TaskBatchNormPlugin(SupervisedPlugin):
    """Per-task BatchNorm states: saved after training a task, restored while testing it."""

    def __init__(self) -> None:
        super().__init__()
        self.states: dict[int, dict[str, torch.Tensor]] = {}
        self._current: dict[str, torch.Tensor] | None = None

    def after_training_exp(self, strategy: Any, *args: Any, **kwargs: Any) -> None:
        self.states[task_label_of(strategy.experience)] = batchnorm_state(strategy.model)

    @contextmanager
    def task(self, model: torch.nn.Module, label: int):
        """Run the body with task ``label``'s BatchNorm state (current state if never trained)."""
        saved = self.states.get(label)
        if saved is None:
            yield
            return
        current = batchnorm_state(model)
        load_batchnorm_state(model, saved)
        try:
            yield
        finally:
            load_batchnorm_state(model, current)

    # Avalanche's own eval() honours the protocol too.
    def before_eval_exp(self, strategy: Any, *args: Any, **kwargs: Any) -> None:
        saved = self.states.get(task_label_of(strategy.experience))
        if saved is not None:
            self._current = batchnorm_state(strategy.model)
            load_batchnorm_state(strategy.model, saved)

    def after_eval_exp(self, strategy: Any, *args: Any, **kwargs: Any) -> None:
        if self._current is not None:
            load_batchnorm_state(strategy.model, self._current)
            self._current = None


class AccuracyMatrixPlugin(SupervisedPlugin):
    """Test accuracy on every task after every epoch; ``matrix[i][j]`` after experience ``i``.

    ``curves`` holds one row per epoch of the whole stream:
    ``{"experience": i, "epoch": e, "accuracy": [acc_task_0, ...]}``.
    """

    def __init__(
        self,
        test_stream: Sequence[Any],
        *,
        batch_size: int = 1000,
        batchnorm: TaskBatchNormPlugin | None = None,
        every: str = "epoch",
    ) -> None:
        super().__init__()
        if every not in ("epoch", "experience"):
            raise ValueError(f"every={every!r} is invalid: use epoch or experience")
        self.test_stream = list(test_stream)
        self.batch_size = batch_size
        self.batchnorm = batchnorm
        self.every = every
        self.curves: list[dict[str, Any]] = []
        self.matrix: list[list[float]] = []
        self._epoch = 0

    def evaluate(self, strategy: Any) -> list[float]:
        accs = []
        for exp in self.test_stream:
            x, y, t = dataset_tensors(exp.dataset, strategy.device)
            if self.batchnorm is None:
                accs.append(accuracy(strategy.model, x, y, self.batch_size, t))
            else:
                with self.batchnorm.task(strategy.model, task_label_of(exp)):
                    accs.append(accuracy(strategy.model, x, y, self.batch_size, t))
        return accs

    def before_training_exp(self, strategy: Any, *args: Any, **kwargs: Any) -> None:
        self._epoch = 0

    def _row(self, strategy: Any, epoch: int) -> None:
        self.curves.append({
            "experience": int(strategy.experience.current_experience),
            "epoch": epoch,
            "accuracy": self.evaluate(strategy),
        })

    def after_training_epoch(self, strategy: Any, *args: Any, **kwargs: Any) -> None:
        if self.every == "epoch":
            self._row(strategy, self._epoch)
        self._epoch += 1

    def after_training_exp(self, strategy: Any, *args: Any, **kwargs: Any) -> None:
        if self.every == "experience":
            self._row(strategy, self._epoch - 1)
        # The last epoch's row already used this task's final BatchNorm state (it is the current
        # one), and evaluation is deterministic, so it is the matrix row: no second pass.
        self.matrix.append(list(self.curves[-1]["accuracy"]))


class OODPlugin(SupervisedPlugin):
    """After every experience: the AUROC of telling its task's test images (in distribution)
    from ``x_out`` (out of distribution) by the model's uncertainty
    (:func:`metabnn.uncertainty.ood_report`), as the MESU paper measures it (Bonnet et al. 2025,
    Fig. 3: the current task against Fashion-MNIST). ``rows`` holds one report per experience.
    """

    def __init__(self, test_stream: Sequence[Any], x_out: torch.Tensor, *, dataset: str,
                 batch_size: int = 1000, batchnorm: TaskBatchNormPlugin | None = None) -> None:
        super().__init__()
        self.test_stream = list(test_stream)
        self.x_out, self.dataset, self.batch_size = x_out, dataset, batch_size
        self.batchnorm = batchnorm
        self.rows: list[dict[str, Any]] = []

    def after_training_exp(self, strategy: Any, *args: Any, **kwargs: Any) -> None:
        from metabnn.uncertainty import ood_report

        i = int(strategy.experience.current_experience)
        exp = self.test_stream[min(i, len(self.test_stream) - 1)]
        x_in = dataset_tensors(exp.dataset, strategy.device)[0]
        x_out = self.x_out.to(strategy.device)
        label = task_label_of(exp)
        if self.batchnorm is None:
            report = ood_report(strategy.model, x_in, x_out, batch_size=self.batch_size,
                                task=label)
        else:
            with self.batchnorm.task(strategy.model, label):
                report = ood_report(strategy.model, x_in, x_out, batch_size=self.batch_size,
                                    task=label)
        self.rows.append({"experience": i, **report})

    def summary(self) -> dict[str, Any] | None:
        """What results.json records: the dataset, the score, every experience's AUROC."""
        if not self.rows:
            return None
        return {"dataset": self.dataset, "score": self.rows[-1]["score"],
                "auroc": [r["auroc"] for r in self.rows], "final": self.rows[-1],
                "in_distribution": "the just-learned task's test images"}


class ProgressPlugin(SupervisedPlugin):
    """A tqdm bar per training epoch, labelled with the experience and epoch."""

    def __init__(self, enabled: bool = True) -> None:
        super().__init__()
        self.enabled = enabled
        self._bar: Any = None
        self._epoch = 0

    def before_training_exp(self, strategy: Any, *args: Any, **kwargs: Any) -> None:
        self._epoch = 0

    def before_training_epoch(self, strategy: Any, *args: Any, **kwargs: Any) -> None:
        if not self.enabled:
            return
        from tqdm.auto import tqdm

        exp = strategy.experience.current_experience
        self._bar = tqdm(
            total=len(strategy.dataloader),
            desc=f"experience {exp} epoch {self._epoch + 1}/{strategy.train_epochs}",
            unit="batch",
            leave=False,
        )

    def after_training_iteration(self, strategy: Any, *args: Any, **kwargs: Any) -> None:
        if self._bar is not None:
            self._bar.update(1)

    def after_training_epoch(self, strategy: Any, *args: Any, **kwargs: Any) -> None:
        self._epoch += 1
        if self._bar is not None:
            self._bar.close()
            self._bar = None


MASKED_LOGIT = -1000.0
"""The logit of a class the growing head has not seen yet: finite, as Avalanche's
``IncrementalClassifier(mask_value=-1000)``, so that it gets no probability (``exp(-1000)``
underflows to 0 in float32 next to logits of order 10) while every function of the outputs stays
finite. With :math:`-\\infty`, MAS's importance (the gradient of :math:`\\lVert f(x)\\rVert_2^2`)
was NaN and every BNN MAS run in Class-IL stopped on a NaN loss."""


class GrowingHeadPlugin(SupervisedPlugin):
    """One growing head for class-incremental learning: only the classes seen so far compete.

    The model keeps its fixed ``n_classes``-way output (so its parameters, their optimizer state
    and their metaplastic groups never change); a forward hook sets the logits of classes no
    experience has trained yet to :data:`MASKED_LOGIT`. Before each experience the classes of its
    training data join the head. This is Avalanche's ``IncrementalClassifier(masking=True)``
    for any model, including the binary ones whose head is ``BinaryLinear -> BatchNorm1d``.
    """

    def __init__(self, n_classes: int) -> None:
        super().__init__()
        self.seen = torch.zeros(n_classes, dtype=torch.bool)
        self._hooked: torch.nn.Module | None = None
        self._handle: Any = None

    def _mask(self, module: torch.nn.Module, args: Any, logits: torch.Tensor) -> torch.Tensor:
        seen = self.seen.to(logits.device)  # (n_classes,)
        return logits.masked_fill(~seen, MASKED_LOGIT)  # (B, n_classes)

    def attach(self, model: torch.nn.Module) -> None:
        """Mask ``model``'s outputs (idempotent; moves the hook if the model was replaced)."""
        if self._hooked is model:
            return
        if self._handle is not None:
            self._handle.remove()
        self._handle = model.register_forward_hook(self._mask)
        self._hooked = model

    def add_classes(self, labels: torch.Tensor) -> None:
        self.seen[labels.unique().cpu()] = True

    def before_training_exp(self, strategy: Any, *args: Any, **kwargs: Any) -> None:
        dataset = getattr(strategy, "adapted_dataset", None)
        if dataset is None:
            dataset = strategy.experience.dataset
        self.add_classes(dataset_tensors(dataset, strategy.device)[1])
        self.attach(strategy.model)


class IterationBudgetPlugin(SupervisedPlugin):
    """Train every experience for exactly ``iterations`` minibatches in one training phase.

    Before the (single) epoch, whatever loader the strategy and its plugins made (its own, or a
    replay loader) is wrapped in :class:`~metabnn.data.IterationLoader`, which iterates it again,
    reshuffled, until the budget is spent; the experience is then tested once (the protocol of
    van de Ven & Tolias 2019: 2000 iterations per task). Put it before the plugins that read the
    loader's length (the progress bar).
    """

    def __init__(self, iterations: int) -> None:
        super().__init__()
        self.iterations = iterations

    def before_training_epoch(self, strategy: Any, *args: Any, **kwargs: Any) -> None:
        if not isinstance(strategy.dataloader, IterationLoader):
            strategy.dataloader = IterationLoader(strategy.dataloader, self.iterations)
