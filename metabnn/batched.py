"""K independent binary MLPs as one model: a leading seed axis on every tensor.

:class:`BatchedBinaryMLP` holds the K networks of K seeds of :class:`~metabnn.models.BinaryMLP`
(Laborieux et al. 2021) stacked: hidden weights ``(K, out, in)``, BatchNorm affine parameters
``(K, C)``, and maps inputs ``(K, B, in)`` to logits ``(K, B, classes)``. Seed k sees only its own
weights, inputs and batch statistics, so for every k

.. math::  \\mathrm{batched}(W)[k](x_k) = \\mathrm{BinaryMLP}(W_k)(x_k),

and the loss :math:`\\sum_k L_k` gives each seed its own gradient. :class:`MetaplasticAdam` is
elementwise, so it steps the stacked parameters as it steps each seed's; its per-layer ``meta``
groups still come from :func:`~metabnn.optim.metaplastic_param_groups`, because
:class:`BatchedBinaryLinear` is a :class:`~metabnn.layers.BinaryLayer`.

Two kernel modes, the same mathematics:

* ``per_seed=True``: one ``F.linear`` / ``F.batch_norm`` per seed, with the shapes of a separate
  run; on CPU every forward value, gradient and step is then *bitwise* equal to K separate runs
  (a batched GEMM or one BatchNorm over ``K * C`` channels sums in another order, and a binarized
  net turns a last-bit difference into a flipped sign sooner or later).
* ``per_seed=False``: one ``torch.bmm`` per layer and one ``F.batch_norm`` over ``K * C``
  channels: fewer, larger kernels, the fast path on a GPU (equal to the separate runs up to float
  rounding).

:meth:`BatchedBinaryMLP.seed_view` gives seed k as a plain ``BinaryMLP`` whose parameters are
views of the stacked ones (no copy): what a step through the view writes, the batched model
holds. The CPU trainer runs the seeds' views in threads (:mod:`metabnn.batched_train`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from metabnn.layers import BinaryLayer
from metabnn.models import BinaryMLP
from metabnn.quantizers import SignQuantizer, WeightSignQuantizer

__all__ = ["BatchedBinaryLinear", "BatchedBatchNorm1d", "BatchedBinaryMLP"]


class BatchedBinaryLinear(nn.Module, BinaryLayer):
    """K bias-free :class:`~metabnn.layers.BinaryLinear` layers: ``y[k] = q(x[k]) sign(W[k])^T``."""

    def __init__(
        self, k: int, in_features: int, out_features: int, *, binarize_input: bool,
        per_seed: bool = True,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(k, out_features, in_features))  # (K, out, in)
        self.per_seed = per_seed
        self._init_quantizers(SignQuantizer() if binarize_input else None, WeightSignQuantizer())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._quantize_input(x)  # (K, B, in)
        w = self.quantized_weight()  # (K, out, in) in {-1, +1}
        if self.per_seed:  # unbind, not x[k]: select's backward would zero-fill (K, ...) K times
            return torch.stack([F.linear(a, b) for a, b in zip(x.unbind(0), w.unbind(0))])
        return torch.bmm(x, w.transpose(1, 2))  # (K, B, out)


class BatchedBatchNorm1d(nn.Module):
    """K ``BatchNorm1d(C)``: statistics over the batch axis of each seed separately.

    ``weight`` and ``bias`` are ``(K, C)``; with ``track_running_stats`` the running mean and
    variance are ``(K, C)`` buffers and ``num_batches_tracked`` counts for all seeds (they step
    together). Without, batch statistics are used in evaluation too (the reference setting).
    """

    def __init__(
        self, k: int, num_features: int, *, track_running_stats: bool = False,
        eps: float = 1e-5, momentum: float = 0.1, per_seed: bool = True,
    ) -> None:
        super().__init__()
        self.eps, self.momentum, self.per_seed = eps, momentum, per_seed
        self.track_running_stats = track_running_stats
        self.weight = nn.Parameter(torch.ones(k, num_features))  # (K, C)
        self.bias = nn.Parameter(torch.zeros(k, num_features))  # (K, C)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(k, num_features))
            self.register_buffer("running_var", torch.ones(k, num_features))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        use_batch = self.training or not self.track_running_stats
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
        rm, rv = self.running_mean, self.running_var
        if self.per_seed:
            k = len(self.weight)
            rms = [None] * k if rm is None else rm.unbind(0)  # views: updated in place
            rvs = [None] * k if rv is None else rv.unbind(0)
            return torch.stack([  # (K, B, C)
                F.batch_norm(*args, use_batch, self.momentum, self.eps)
                for args in zip(x.unbind(0), rms, rvs, self.weight.unbind(0),
                                self.bias.unbind(0))
            ])
        k, b, c = x.shape
        flat = x.transpose(0, 1).reshape(b, k * c)  # (B, K*C): one channel per (seed, feature)
        out = F.batch_norm(flat, None if rm is None else rm.view(-1),
                           None if rv is None else rv.view(-1), self.weight.reshape(-1),
                           self.bias.reshape(-1), use_batch, self.momentum, self.eps)
        return out.reshape(b, k, c).transpose(0, 1)  # (K, B, C)


class BatchedBinaryMLP(nn.Module):
    """K binary MLPs ``in-H1-...-Hn-out`` (:class:`~metabnn.models.BinaryMLP`) as one module.

    Parameter and buffer names are those of ``BinaryMLP`` with a leading seed axis, so
    :meth:`stack` and :meth:`unstack` are name-by-name copies.
    """

    def __init__(
        self, k: int, in_features: int, hidden: Sequence[int], out_features: int, *,
        track_running_stats: bool = False, per_seed: bool = True,
    ) -> None:
        super().__init__()
        self.k, self.in_features = k, in_features
        self.hidden, self.out_features = tuple(hidden), out_features
        self.track_running_stats = track_running_stats
        sizes = [in_features, *hidden, out_features]
        self.layers = nn.ModuleList(
            BatchedBinaryLinear(k, i, o, binarize_input=n > 0, per_seed=per_seed)
            for n, (i, o) in enumerate(zip(sizes[:-1], sizes[1:]))
        )
        self.norms = nn.ModuleList(
            BatchedBatchNorm1d(k, o, track_running_stats=track_running_stats, per_seed=per_seed)
            for o in sizes[1:]
        )

    def set_per_seed(self, per_seed: bool) -> BatchedBinaryMLP:
        """Choose the kernels (see the module docstring); returns ``self``."""
        for module in (*self.layers, *self.norms):
            module.per_seed = per_seed
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(2)  # (K, B, in_features)
        for layer, norm in zip(self.layers, self.norms):
            x = norm(layer(x))  # the next layer's input quantizer is the sign activation
        return x  # (K, B, out_features) logits

    @classmethod
    @torch.no_grad()
    def stack(cls, models: Sequence[BinaryMLP], *, per_seed: bool = True) -> BatchedBinaryMLP:
        """One batched model holding copies of ``models`` (same shapes), seed axis in order."""
        first = models[0]
        if not isinstance(first, BinaryMLP) or first.binarize_input:
            raise TypeError("stack takes BinaryMLP models with real-valued input")
        sizes = [layer.weight.shape for layer in first.layers]
        batched = cls(len(models), sizes[0][1], [s[0] for s in sizes[:-1]], sizes[-1][0],
                      track_running_stats=first.norms[0].track_running_stats, per_seed=per_seed)
        states = [m.state_dict() for m in models]
        for name, value in batched.state_dict().items():
            value.copy_(states[0][name] if value.dim() == 0
                        else torch.stack([s[name] for s in states]))
        return batched.to(first.layers[0].weight.device)

    def seed_view(self, k: int) -> BinaryMLP:
        """Seed ``k`` as a :class:`~metabnn.models.BinaryMLP` that shares this model's memory.

        Its parameters and running statistics are views of slice ``k`` of the stacked tensors,
        each a leaf with its own autograd version counter (an in-place step of one seed never
        invalidates another seed's graph); ``num_batches_tracked`` is its own counter.
        """
        model = BinaryMLP(self.in_features, self.hidden, self.out_features,
                          track_running_stats=self.track_running_stats)
        with torch.no_grad():
            for name, value in [*self.named_parameters(), *self.named_buffers()]:
                owner, _, leaf = name.rpartition(".")
                module = model.get_submodule(owner)
                if value.dim() == 0:  # num_batches_tracked: one shared counter, copied
                    module._buffers[leaf] = value.detach().clone()
                elif leaf in module._parameters:
                    module._parameters[leaf] = nn.Parameter(value.data[k])
                else:
                    module._buffers[leaf] = value.data[k]
        return model

    @torch.no_grad()
    def unstack(self, k: int) -> BinaryMLP:
        """Seed ``k`` as a standalone :class:`~metabnn.models.BinaryMLP` (a copy)."""
        model = BinaryMLP(self.in_features, self.hidden, self.out_features,
                          track_running_stats=self.track_running_stats)
        model.load_state_dict({name: value if value.dim() == 0 else value[k]
                               for name, value in self.state_dict().items()})
        return model.to(self.layers[0].weight.device)
