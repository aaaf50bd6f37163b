"""What every baseline shares: the MetaplasticStrategy arguments of a run, and which weights
are *hidden weights* (the ones consolidation methods act on).

Every strategy is :class:`~metabnn.strategies.MetaplasticStrategy` (with ``meta = 0`` a plain
Adam-trained network) plus Avalanche plugins, so two strategies differ only in the method: same
stream, same initial weights (the runner builds the model from the seed), same data order
(``derived_seed(seed, "order")``), same Adam settings and optimizer-reset policy unless the
strategy says otherwise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from torch import nn

from metabnn.config import RunConfig
from metabnn.layers import BinaryLayer
from metabnn.seeding import derived_seed

__all__ = [
    "ADAM_PARAMS",
    "OPTIMIZER_RESET",
    "hidden_layer_predicate",
    "hidden_weight_names",
    "strategy_kwargs",
]

#: The config fields every Adam-trained baseline reads, listed with the paper's values.
ADAM_PARAMS = {
    "optim.lr": (0.005, "Laborieux et al. 2021, Methods"),
    "optim.weight_decay": (1e-7, "Laborieux et al. 2021, reference code"),
    "optim.reset_per_experience": (True, "Laborieux et al. 2021, reference code"),
}

OPTIMIZER_RESET = (
    "fresh Adam state at every experience when optim.reset_per_experience (default), else "
    "carried over"
)


def hidden_layer_predicate(model: nn.Module) -> Callable[[nn.Module], bool]:
    """Layers whose ``weight`` is consolidated: the binary layers of a BNN; on a network
    without binary layers (the full-precision twin), its ``nn.Linear``/``nn.Conv2d`` layers
    (Laborieux et al. 2021, Fig. 2f: f_meta on real weights)."""
    if any(isinstance(m, BinaryLayer) for m in model.modules()):
        return lambda m: isinstance(m, BinaryLayer)
    return lambda m: isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d))


def hidden_weight_names(model: nn.Module) -> list[str]:
    """``named_parameters`` names of the hidden weights of ``model``."""
    is_hidden = hidden_layer_predicate(model)
    return [f"{n}.weight" for n, m in model.named_modules() if is_hidden(m)]


def strategy_kwargs(
    model: nn.Module,
    config: RunConfig,
    *,
    device: Any,
    plugins: Sequence[Any],
    meta: float | None = None,
) -> dict[str, Any]:
    """Keyword arguments of :class:`~metabnn.strategies.MetaplasticStrategy` for a run.

    ``meta`` overrides ``config.optim.meta`` (``naive`` passes 0).
    """
    o, t = config.optim, config.train
    return dict(
        model=model,
        meta=o.meta if meta is None else meta,
        lr=o.lr,
        betas=o.betas,
        eps=o.eps,
        eps_placement=o.eps_placement,
        weight_decay=o.weight_decay,
        reset_optimizer=o.reset_per_experience,
        consolidate=hidden_layer_predicate(model),
        train_mb_size=t.batch_size,
        train_epochs=t.epochs,
        eval_mb_size=t.eval_batch_size,
        device=device,
        plugins=list(plugins),
        seed=derived_seed(config.seed, "order"),
    )
