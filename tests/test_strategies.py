"""MetaplasticStrategy's device-resident data path equals Avalanche's own DataLoader path.

The fast path (``fast_loader=True``, the default) trains on index gathers of the experience's
tensors, held on the strategy's device, and evaluates in ``eval_mb_size`` chunks of them; the
standard path is Avalanche's per-sample ``DataLoader`` with its collate. Fed the same minibatches
(``shuffle=False``: both walk the experience in order), every step must see the same values, so
the weights and accuracies after training are compared *exactly*.
"""

from __future__ import annotations

import torch
from avalanche.core import SupervisedPlugin

from metabnn.benchmarks.tensor_streams import benchmark_from_tensors
from metabnn.data import TensorBatchLoader
from metabnn.models import BinaryMLP, init_weights_
from metabnn.plugins import AccuracyMatrixPlugin
from metabnn.strategies import MetaplasticStrategy


def _bench():
    g = torch.Generator().manual_seed(0)
    train, test = [], []
    for task in range(2):
        w = torch.randn(20, 5, generator=g)
        x = torch.rand(400, 20, generator=g)
        y = (x @ w).argmax(-1)
        train.append((x[:300], y[:300], task))
        test.append((x[300:], y[300:], task))
    return benchmark_from_tensors(train, test)


class _Hits(SupervisedPlugin):
    """Correct predictions per evaluated experience, read off the strategy's minibatches."""

    def __init__(self) -> None:
        super().__init__()
        self.hits: list[int] = []

        self.loaders: list[type] = []  # of every training epoch and evaluated experience

    def before_training_epoch(self, strategy, **kwargs):
        self.loaders.append(type(strategy.dataloader))

    def before_eval_exp(self, strategy, **kwargs):
        self.hits.append(0)
        self.loaders.append(type(strategy.dataloader))

    def after_eval_iteration(self, strategy, **kwargs):
        self.hits[-1] += int((strategy.mb_output.argmax(1) == strategy.mb_y).sum())


def _train(fast_loader: bool):

    bench = _bench()
    model = init_weights_(BinaryMLP(20, (32,), 5), 0.05, torch.Generator().manual_seed(1))
    matrix = AccuracyMatrixPlugin(bench.test_stream, batch_size=64)
    hits = _Hits()
    strategy = MetaplasticStrategy(
        model=model, meta=1.35, train_mb_size=32, train_epochs=2, eval_mb_size=64,
        plugins=[matrix, hits], fast_loader=fast_loader,
    )
    for exp in bench.train_stream:
        strategy.train(exp, shuffle=False)
    strategy.eval(bench.test_stream)  # through make_eval_dataloader: the path under test
    return model, matrix, hits.loaders, hits.hits


def test_device_resident_path_equals_avalanche_dataloader_path():
    fast, fast_matrix, fast_loaders, fast_hits = _train(True)
    slow, slow_matrix, slow_loaders, slow_hits = _train(False)
    assert fast_loaders == [TensorBatchLoader] * 6  # 2 x 2 epochs, 2 evaluations
    assert TensorBatchLoader not in slow_loaders  # the other side really is Avalanche's loader
    for (name, a), b in zip(fast.state_dict().items(), slow.state_dict().values()):
        assert torch.equal(a, b), name
    assert fast_matrix.curves == slow_matrix.curves
    # it learned: task 0 after its own epochs, well above chance (0.2)
    assert fast_matrix.curves[1]["accuracy"][0] > 0.45
    assert fast_hits == slow_hits and len(fast_hits) == 2 and min(fast_hits) > 30  # of 100
