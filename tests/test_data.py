import pytest
import torch

from metabnn.data import (
    DataNotFoundError,
    TensorBatchLoader,
    load_mnist_like,
    resolve_data_root,
)


def test_data_root_resolution_order(monkeypatch, tmp_path):
    monkeypatch.setenv("METABNN_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert resolve_data_root(tmp_path / "flag") == tmp_path / "flag"
    assert resolve_data_root(None) == tmp_path / "env"
    monkeypatch.delenv("METABNN_DATA")
    assert resolve_data_root(None) == tmp_path / "cache" / "metabnn" / "data"


def test_missing_data_names_the_three_options(tmp_path):
    with pytest.raises(DataNotFoundError) as err:
        load_mnist_like("MNIST", tmp_path, train=False, download=False)
    message = str(err.value)
    assert "--data-root" in message and "METABNN_DATA" in message and ".cache" in message


def test_real_mnist_loads_as_tensors(data_root):
    x, y = load_mnist_like("MNIST", data_root, train=False)
    assert x.shape == (10000, 28, 28) and x.dtype == torch.uint8
    # canonical test label counts (shared/data/README.md)
    expected = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert torch.bincount(y).tolist() == expected


def test_batch_loader_covers_everything_once_and_is_seeded():
    x = torch.arange(25).float().unsqueeze(1)
    y = torch.arange(25)
    t = torch.zeros(25, dtype=torch.long)

    def order(seed):
        loader = TensorBatchLoader((x, y, t), 10, generator=torch.Generator().manual_seed(seed))
        return torch.cat([b[1] for b in loader])

    assert len(TensorBatchLoader((x, y, t), 10)) == 3
    assert sorted(order(0).tolist()) == list(range(25))
    assert torch.equal(order(0), order(0)) and not torch.equal(order(0), order(1))
    plain = TensorBatchLoader((x, y, t), 10, shuffle=False)
    assert torch.equal(torch.cat([b[0] for b in plain]), x)
