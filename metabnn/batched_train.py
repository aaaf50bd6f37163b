"""Train K seeds of the metaplastic BNN as one :class:`~metabnn.batched.BatchedBinaryMLP`.

The loop is :class:`~metabnn.strategies.MetaplasticStrategy`'s with the task-incremental plugins
(:class:`~metabnn.plugins.TaskBatchNormPlugin`, :class:`~metabnn.plugins.AccuracyMatrixPlugin`),
written once for a leading seed axis:

* an experience is the K seeds' tensors stacked, ``x: (K, N, ...)``, ``y: (K, N)``, resident on
  the training device; a minibatch is a per-seed index gather ``(K, B, ...)``;
* every epoch each seed draws its own order, ``randperm(N, generator=g_k)``, from the generator
  its separate run's data loader would use (:class:`~metabnn.data.TensorBatchLoader`);
* the loss is :math:`\\sum_k \\mathrm{CE}_k`, each the mean over that seed's minibatch, so each
  seed gets exactly its own gradient; :class:`~metabnn.optim.MetaplasticAdam` steps the stacked
  parameters (fresh at every experience when ``reset_per_experience``, as the paper);
* after every epoch every test task is evaluated in ``eval_batch_size`` chunks, under that task's
  saved BatchNorm state when ``per_task_bn`` (Laborieux et al. 2021, task-incremental protocol);
  accuracies stay on the device until the end of the epoch (one host synchronisation per epoch).

On CPU (per-seed kernels), the seeds also run *side by side*: ``seed_threads`` worker threads
each train and evaluate whole seeds through :meth:`~metabnn.batched.BatchedBinaryMLP.seed_view`
(views of the stacked weights, one MetaplasticAdam per seed), each on ``threads_per_seed``
intra-op threads (torch's threads shared out, 1 when there are fewer than seeds). A 100-image
step of a 1024-wide net splits poorly over cores (two threads run it only ~1.45x faster than
one), while independent seeds, one per core, scale almost linearly: on two cores four seeds cost
~3.3x one seed instead of ~4x. Each seed runs exactly its separate run's ops on
``threads_per_seed`` threads, so its results are bitwise those of a separate run on that many
threads (tests).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from metabnn.batched import BatchedBatchNorm1d, BatchedBinaryMLP
from metabnn.optim import MetaplasticAdam, metaplastic_param_groups

__all__ = ["BatchedExperience", "BatchedTrainer", "intra_op_threads"]


@dataclass
class BatchedExperience:
    """One experience of K seeds: ``x (K, N, ...)``, ``y (K, N)``, and its task label."""

    x: torch.Tensor
    y: torch.Tensor
    task_label: int = 0

    @classmethod
    def stack(cls, parts: Sequence[tuple[torch.Tensor, torch.Tensor]], task_label: int,
              device: torch.device | str) -> BatchedExperience:
        """Stack the seeds' ``(x, y)`` (equal sizes) onto ``device``."""
        if len({len(y) for _, y in parts}) != 1:
            raise ValueError("batched seeds need experiences of equal size in every seed")
        return cls(torch.stack([x.to(device) for x, _ in parts]),
                   torch.stack([y.to(device) for _, y in parts]), task_label)


class BatchedTrainer:
    """MetaplasticAdam training of K seeds at once; ``matrices[k]`` and ``curves[k]`` per seed.

    ``generators[k]`` orders seed k's minibatches. ``matrices[k][i][j]`` is seed k's accuracy on
    test task j after experience i; ``curves[k]`` has one row per epoch,
    ``{"experience": i, "epoch": e, "accuracy": [...]}`` (the Avalanche path's records).
    ``seed_threads``: seeds trained side by side (see the module docstring); ``None`` is one
    per CPU thread torch uses (at most K) for a CPU model with per-seed kernels, else 1.
    """

    #: Intra-op threads of each seed (all of torch's when they do not run side by side).
    threads_per_seed: int

    def __init__(
        self, model: BatchedBinaryMLP, test_stream: Sequence[BatchedExperience], *,
        generators: Sequence[torch.Generator], meta: float, lr: float,
        betas: tuple[float, float], eps: float, weight_decay: float,
        reset_per_experience: bool, epochs: int, batch_size: int, eval_batch_size: int,
        per_task_bn: bool, on_epoch: Callable[[int, int, list[list[float]]], Any] | None = None,
        seed_threads: int | None = None, eps_placement: str = "before-bias-correction",
    ) -> None:
        if len(generators) != model.k:
            raise ValueError(f"{len(generators)} generators for {model.k} seeds")
        if seed_threads is not None and seed_threads < 1:
            raise ValueError(f"seed_threads must be >= 1, got {seed_threads}")
        self.model, self.test_stream, self.generators = model, list(test_stream), generators
        self.optim_args = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                               eps_placement=eps_placement)
        self.meta, self.reset = meta, reset_per_experience
        self.epochs, self.batch_size, self.eval_batch_size = epochs, batch_size, eval_batch_size
        self.per_task_bn, self.on_epoch = per_task_bn, on_epoch
        self.optimizer: MetaplasticAdam | None = None
        self.bn_states: dict[int, dict[str, torch.Tensor]] = {}
        self.curves: list[list[dict[str, Any]]] = [[] for _ in range(model.k)]
        self.matrices: list[list[list[float]]] = [[] for _ in range(model.k)]
        self._experience = 0
        on_cpu = next(model.parameters()).device.type == "cpu"
        if seed_threads is None:
            seed_threads = min(model.k, torch.get_num_threads()) if (
                on_cpu and model.layers[0].per_seed) else 1
        self.seed_threads = seed_threads
        self.threads_per_seed = max(1, torch.get_num_threads() // seed_threads)
        self._views = [model.seed_view(k) for k in range(model.k)] if seed_threads > 1 else []
        self._seed_optimizers: list[MetaplasticAdam] = []

    def train(self, experience: BatchedExperience) -> None:
        """All epochs of one experience, each followed by the evaluation of every task."""
        if self._views:
            if not self._seed_optimizers or self.reset:
                self._seed_optimizers = [
                    MetaplasticAdam(metaplastic_param_groups(view, self.meta), **self.optim_args)
                    for view in self._views]
        elif self.optimizer is None or self.reset:
            groups = metaplastic_param_groups(self.model, self.meta)
            self.optimizer = MetaplasticAdam(groups, **self.optim_args)
        self.model.train()
        for epoch in range(self.epochs):
            self._epoch(experience)
            accs = self.evaluate()
            for k, row in enumerate(accs):
                self.curves[k].append(
                    {"experience": self._experience, "epoch": epoch, "accuracy": row})
            if self.on_epoch is not None:
                self.on_epoch(self._experience, epoch, accs)
        if self.per_task_bn:
            self.bn_states[experience.task_label] = self._bn_state()
        for k in range(self.model.k):
            self.matrices[k].append(list(self.curves[k][-1]["accuracy"]))
        self._experience += 1

    def _epoch(self, experience: BatchedExperience) -> None:
        x, y = experience.x, experience.y  # (K, N, ...), (K, N)
        k, n = y.shape
        order = torch.stack([torch.randperm(n, generator=g) for g in self.generators])
        order = order.to(y.device)  # (K, N)
        if self._views:
            self._side_by_side(lambda s: self._seed_epoch(s, x[s], y[s], order[s]))
            return
        seeds = torch.arange(k, device=y.device)[:, None]  # (K, 1)
        opt = self.optimizer
        for start in range(0, n, self.batch_size):
            idx = order[:, start : start + self.batch_size]  # (K, B)
            logits = self.model(x[seeds, idx])  # (K, B, classes)
            # sum over seeds of each seed's mean loss: seed k's gradient is its own
            loss = F.cross_entropy(logits.flatten(0, 1), y[seeds, idx].flatten(),
                                   reduction="sum") / idx.shape[1]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    def _seed_epoch(self, k: int, x: torch.Tensor, y: torch.Tensor, order: torch.Tensor) -> None:
        """One epoch of seed ``k`` alone: its separate run's loop, on its view."""
        model, opt = self._views[k], self._seed_optimizers[k]
        model.train(self.model.training)
        for start in range(0, len(y), self.batch_size):
            idx = order[start : start + self.batch_size]
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
        if model.norms[0].num_batches_tracked is not None and k == 0:
            for mine, stacked in zip(model.norms, self.model.norms):
                stacked.num_batches_tracked.copy_(mine.num_batches_tracked)

    def _side_by_side(self, work: Callable[[int], Any]) -> list[Any]:
        """``work(k)`` for every seed, ``seed_threads`` at a time, ``threads_per_seed`` each
        (threads started inside the block take the intra-op count it sets)."""
        with (intra_op_threads(self.threads_per_seed),
              ThreadPoolExecutor(self.seed_threads) as pool):
            return list(pool.map(work, range(self.model.k)))

    @torch.no_grad()
    def _seed_hits(self, k: int, exp: BatchedExperience) -> torch.Tensor:
        model = self._views[k].eval()
        hits = torch.zeros((), dtype=torch.long, device=exp.y.device)
        for start in range(0, exp.y.shape[1], self.eval_batch_size):
            logits = model(exp.x[k, start : start + self.eval_batch_size])
            hits += (logits.argmax(-1) == exp.y[k, start : start + self.eval_batch_size]).sum()
        return hits

    @torch.no_grad()
    def evaluate(self) -> list[list[float]]:
        """Accuracy ``[k][j]`` of seed k on test task j, each under its task's BatchNorm state."""
        was_training = self.model.training
        self.model.eval()
        current = self._bn_state() if self.bn_states else None
        correct = []
        for exp in self.test_stream:
            saved = self.bn_states.get(exp.task_label) if self.per_task_bn else None
            self._load_bn(saved if saved is not None else current)
            if self._views:
                hits_of = functools.partial(self._seed_hits, exp=exp)
                correct.append(torch.stack(self._side_by_side(hits_of)))
                continue
            hits = torch.zeros(self.model.k, dtype=torch.long, device=exp.y.device)  # (K,)
            for start in range(0, exp.y.shape[1], self.eval_batch_size):
                logits = self.model(exp.x[:, start : start + self.eval_batch_size])
                hits += (logits.argmax(-1) == exp.y[:, start : start + self.eval_batch_size]
                         ).sum(1)
            correct.append(hits)
        self._load_bn(current)
        self.model.train(was_training)
        counts = torch.stack(correct, 1).tolist()  # (K, tasks): the one host sync
        return [[c / max(exp.y.shape[1], 1) for c, exp in zip(row, self.test_stream)]
                for row in counts]

    def _bn_state(self) -> dict[str, torch.Tensor]:
        return {f"{name}.{key}": value.detach().clone()
                for name, module in self.model.named_modules()
                if isinstance(module, BatchedBatchNorm1d)
                for key, value in module.state_dict().items()}

    @torch.no_grad()
    def _load_bn(self, state: dict[str, torch.Tensor] | None) -> None:
        if state is None:
            return
        targets = dict(self.model.named_parameters()) | dict(self.model.named_buffers())
        for key, value in state.items():
            targets[key].copy_(value)


@contextmanager
def intra_op_threads(n: int) -> Iterator[None]:
    """torch's intra-op thread count set to ``n`` inside the block (it is process-wide)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
