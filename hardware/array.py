"""A per-layer synaptic array: the binary (or ternary) weights of one layer in simulated memory.

:class:`SynapticArray` replaces a binary layer's ``kernel_quantizer``. It holds, in registered
buffers (so ``state_dict()`` and ``torch.save`` carry them):

* ``intended`` (int8): the value each cell was last written with, :math:`t(W_h)`;
* ``stored`` (float): the value each cell reads back, which differs where a write failed;
* ``write_count`` (int32): writes per cell (endurance).

Write-on-flip: the optimizer proposes, the array executes. :meth:`sync` compares the target
:math:`t(W_h)` (sign, or the ternary quantizer) with ``intended`` and writes only the cells
that changed; each write fails with the cell's BER :math:`p` (binary: the cell reads
:math:`-t`; ternary: the read level is drawn from the PCSA confusion matrix), and the outcome
persists until the cell is written again. With write-verify, each write is read back and failed
cells are rewritten up to ``verify_retries`` times, leaving an error rate
:math:`p^{k+1}`. Optional transient read errors (``read_ber``) are drawn afresh in every forward
pass and never stored; :meth:`age` applies a retention event to the stored values.

Forward returns ``stored`` (plus transient flips and, in training, the error-aware flips of
:mod:`metabnn.hardware.error_aware`) with the straight-through gradient to the hidden weight. With
:math:`p = 0` and no extras the output equals ``sign(W_h)`` bit for bit, as the software BNN.

Random draws are made only for written cells, from the array's ``torch.Generator``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from metabnn.hardware.cells import WriteSpec
from metabnn.hardware.energy import Ledger
from metabnn.hardware.error_aware import draw_rate, flip_signs
from metabnn.hardware.ternary import sample_confusion, ternarize

__all__ = ["SynapticArray", "read_through"]


class _ReadThrough(torch.autograd.Function):
    """Forward: the stored values as they are (no copy); backward: identity to the hidden weight."""

    @staticmethod
    def forward(ctx, w: torch.Tensor, stored: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return stored

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        return grad, None


_BYTE = torch.arange(8)


def _changed(new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
    """Indices where two flat bool tensors differ.

    Flips are sparse, so the tensors are compared eight flags at a time as int64 words and only
    the words that differ are expanded (``nonzero`` over all flags costs more than the sign).
    """
    if new.numel() % 8:
        return new.ne(old).nonzero().squeeze(1)
    words = new.view(torch.int64).ne(old.view(torch.int64)).nonzero().squeeze(1)  # (w,)
    cand = (words.unsqueeze(1) * 8 + _BYTE.to(words.device)).view(-1)  # (8w,)
    return cand[new[cand] != old[cand]]


def read_through(w: torch.Tensor, stored: torch.Tensor) -> torch.Tensor:
    """``stored`` in the forward pass, identity gradient onto ``w`` (straight-through)."""
    return _ReadThrough.apply(w, stored)


class SynapticArray(nn.Module):
    """Memory array holding one layer's binary or ternary weights (a kernel quantizer).

    :param weight: the layer's hidden weight; the array is programmed with :math:`t(W_h)`.
    :param spec: the write's error rate and energy (:meth:`metabnn.hardware.cells.CellModel.spec`).
    :param generator: source of every random draw of this array.
    :param ledger: where writes, flips and errors are counted (under ``name``).
    :param ternary_threshold: ternary weights with this threshold :math:`\\delta` (else binary).
    :param confusion: 3x3 PCSA confusion for ternary writes (default: error-free sense).
    :param verify_retries: write-verify: rewrite failed cells up to this many times.
    :param read_ber: transient read error rate, drawn in every forward pass.
    :param error_aware: error-aware training flip rate (or range), training passes only.
    """

    def __init__(
        self,
        weight: torch.Tensor,
        spec: WriteSpec,
        *,
        generator: torch.Generator,
        ledger: Ledger | None = None,
        name: str = "",
        ternary_threshold: float | None = None,
        confusion: torch.Tensor | None = None,
        verify_retries: int = 0,
        read_ber: float = 0.0,
        error_aware: float | tuple[float, float] = 0.0,
    ) -> None:
        super().__init__()
        self.spec = spec
        self.generator = generator
        self.ledger = ledger if ledger is not None else Ledger()
        self.name = name
        self.ternary_threshold = ternary_threshold
        self.confusion = confusion if confusion is not None else torch.eye(3, dtype=torch.float64)
        self.verify_retries = verify_retries
        self.read_ber = read_ber
        self.error_aware = error_aware
        self.register_buffer("intended", torch.zeros(weight.shape, dtype=torch.int8,
                                                     device=weight.device))
        self.register_buffer("stored", torch.zeros(weight.shape, dtype=weight.dtype,
                                                   device=weight.device))
        self.register_buffer("write_count", torch.zeros(weight.shape, dtype=torch.int32,
                                                        device=weight.device))
        # sign bits of ``intended``, kept in step with it so that a sync costs one comparison
        self.register_buffer("_negative", torch.zeros(weight.shape, dtype=torch.bool,
                                                      device=weight.device), persistent=False)
        self._seen: tuple[int, int] | None = None
        self.program(weight)

    @property
    def precision(self) -> float:
        return 1.0 if self.ternary_threshold is None else 1.58

    @property
    def ternary(self) -> bool:
        return self.ternary_threshold is not None

    def target(self, w: torch.Tensor) -> torch.Tensor:
        """What the optimizer proposes: int8 ``sign(w)`` or ternary.

        The sign follows :func:`metabnn.quantizers.binarize` (``copysign``): ``+0 -> +1``,
        ``-0 -> -1``.
        """
        if self.ternary_threshold is not None:
            return ternarize(w, self.ternary_threshold)
        return torch.where(torch.signbit(w), -1, 1).to(torch.int8)

    def _phase(self) -> str:
        return "train" if self.training else "evaluation"

    @torch.no_grad()
    def program(self, w: torch.Tensor) -> None:
        """Write every cell with :math:`t(W_h)` (initial programming, phase ``program``)."""
        target = self.target(w.detach()).reshape(-1)
        idx = torch.arange(target.numel(), device=target.device)
        self._write(idx, target, "program")
        self._seen = (w.data_ptr(), w._version)

    @torch.no_grad()
    def sync(self, w: torch.Tensor, phase: str | None = None) -> int:
        """Write the cells whose target changed; returns how many flipped."""
        w = w.detach()
        if self.ternary_threshold is None:
            idx = _changed(torch.signbit(w).view(-1), self._negative.view(-1))  # (k,)
        else:
            idx = self.target(w).ne_(self.intended).view(-1).nonzero().squeeze(1)  # (k,)
        n = idx.numel()
        phase = phase or self._phase()
        if n:
            self.ledger.add(phase, self.name, "flips", n)
            values = -self.intended.view(-1)[idx] if self.ternary_threshold is None else (
                self.target(w).view(-1)[idx])
            self._write(idx, values, phase)
        self._seen = (w.data_ptr(), w._version)
        return n

    def _attempt(self, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One write of ``values`` (int8): the read-back levels and where they are wrong."""
        if self.ternary_threshold is not None:
            out = sample_confusion(values, self.confusion, self.generator)
            return out, out != values
        err = (torch.rand(values.shape, generator=self.generator) < self.spec.ber).to(
            values.device)  # (k,) drawn only for the written cells
        return torch.where(err, -values, values), err

    def _write(self, idx: torch.Tensor, values: torch.Tensor, phase: str) -> None:
        out, err = self._attempt(values)
        writes, errors = idx.numel(), err.sum()
        pending = torch.arange(idx.numel(), device=idx.device)
        for _ in range(self.verify_retries):
            self.ledger.add(phase, self.name, "verify_reads", pending.numel())
            pending = pending[err[pending]]
            if pending.numel() == 0:
                break
            again, again_err = self._attempt(values[pending])
            out[pending], err[pending] = again, again_err
            writes += pending.numel()
            errors = errors + again_err.sum()
        self.intended.view(-1)[idx] = values
        self._negative.view(-1)[idx] = values < 0
        self.stored.view(-1)[idx] = out.to(self.stored.dtype)
        self.write_count.view(-1)[idx] += 1
        self.ledger.add(phase, self.name, "writes", writes)
        self.ledger.add(phase, self.name, "write_errors", errors)
        self.ledger.add(phase, self.name, "residual_errors", err.sum())

    @torch.no_grad()
    def age(self, p: float, phase: str = "train") -> None:
        """Retention event: every stored value is negated with probability ``p``."""
        if p <= 0:
            return
        flip = (torch.rand(self.stored.shape, generator=self.generator) < p).to(
            self.stored.device)
        self.stored.copy_(torch.where(flip, -self.stored, self.stored))
        self.ledger.add(phase, self.name, "retention_errors", flip.sum())

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        if self._seen != (w.data_ptr(), w._version):
            self.sync(w)
        out = self.stored
        if self.read_ber > 0:
            out = flip_signs(out, self.read_ber, self.generator)
        if self.training and self.error_aware:
            out = flip_signs(out, draw_rate(self.error_aware, self.generator), self.generator)
        return read_through(w, out)

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._negative.copy_(self.intended < 0)
        self._seen = None  # the hidden weight may have been loaded too: re-check at next read

    def measured_ber(self) -> float:
        n = self.ledger.total("writes", layer=self.name)
        return self.ledger.total("write_errors", layer=self.name) / n if n else 0.0

    def extra_repr(self) -> str:
        kind = "ternary" if self.ternary else "binary"
        return f"{tuple(self.stored.shape)}, {kind}, ber={self.spec.ber:.3g}"
