"""Every registered stream: shapes, class splits, seeds, scenarios, and a short run.

The registry-wide tests read one data root (:func:`root`) holding, in torchvision's on-disk
formats so that the real readers run (only the download is not exercised):

* MNIST and Fashion-MNIST: the first 3000 training and 600 test images of the real data,
  rewritten as IDX files (so that ~50 stream builds take seconds, not a minute);
* CIFAR-10 and CIFAR-100: small CIFAR-shaped pickle batches that :func:`_write_fake_cifar`
  generates (no CIFAR is available offline), with a class-dependent bright block to learn.

The stream-learning statistics and the no-boundary test use the full real Fashion-MNIST.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from metabnn.baselines import STRATEGIES
from metabnn.benchmarks import STREAMS, build_stream, resolve, resolve_stream
from metabnn.benchmarks.cifar import ANIMALS, VEHICLES, load_cifar, standardise
from metabnn.benchmarks.split import flat_pixels
from metabnn.benchmarks.stream_learning import iid_chunks
from metabnn.config import ConfigError, RunConfig, StreamConfig, from_dict, stamp
from metabnn.data import DataNotFoundError, dataset_tensors, load_mnist_like
from metabnn.models import MODELS
from metabnn.plugins import MASKED_LOGIT, GrowingHeadPlugin, task_label_of
from metabnn.runner import build_model, run

NAMES = STREAMS.names()
CASES = [(n, s) for n in NAMES for s in STREAMS.entry(n).info["scenarios"]]
SMALL = {"train_per_task": 100, "test_per_task": 60}
CIFAR_TRAIN_PER_CLASS = {"CIFAR10": 60, "CIFAR100": 12}


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models gain nothing from threads, and on a busy 2-core machine spinning OpenMP
    threads made one BatchNorm call on a (20, 32) batch take 0.1 s."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _info(name: str) -> dict:
    return STREAMS.entry(name).info


def _stream_learning(name: str) -> bool:
    return not _info(name).get("boundaries", True)


def _cifar_images(labels: np.ndarray, n_classes: int, rng: np.random.Generator) -> np.ndarray:
    """Noise plus a bright 8x8 block whose position and channel depend on the class."""
    images = rng.integers(0, 64, size=(len(labels), 3, 32, 32), dtype=np.uint8)
    for i, c in enumerate(labels):
        block = c % 16
        r, q = 8 * (block // 4), 8 * (block % 4)
        images[i, c % 3, r : r + 8, q : q + 8] += 160
    return images.reshape(len(labels), 3072)  # torchvision's row layout: (N, 3 * 32 * 32)


def _write_fake_cifar(root: Path) -> None:
    rng = np.random.default_rng(0)

    def dump(path: Path, n_per_class: int, n_classes: int, key: str) -> list[int]:
        labels = rng.permutation(np.repeat(np.arange(n_classes), n_per_class))
        entry = {"data": _cifar_images(labels, n_classes, rng), key: labels.tolist()}
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            pickle.dump(entry, fh)
        return labels.tolist()

    c10 = root / "cifar-10-batches-py"
    for b in range(1, 6):  # 5 batches of 12 per class, as torchvision's train_list
        dump(c10 / f"data_batch_{b}", CIFAR_TRAIN_PER_CLASS["CIFAR10"] // 5, 10, "labels")
    dump(c10 / "test_batch", 6, 10, "labels")
    c100 = root / "cifar-100-python"
    dump(c100 / "train", CIFAR_TRAIN_PER_CLASS["CIFAR100"], 100, "fine_labels")
    dump(c100 / "test", 2, 100, "fine_labels")


def _write_idx(path: Path, array: torch.Tensor) -> None:
    """An IDX file (LeCun's format, read by torchvision): uint8 type code, big-endian dims."""
    path.parent.mkdir(parents=True, exist_ok=True)
    dims = b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(bytes([0, 0, 0x08, array.dim()]) + dims + array.numpy().tobytes())


@pytest.fixture(scope="session")
def root(data_root, tmp_path_factory) -> Path:
    """Subsets of the real MNIST / Fashion-MNIST and generated CIFAR-10 / CIFAR-100."""
    folder = tmp_path_factory.mktemp("data")
    for name in ("MNIST", "FashionMNIST"):
        for train, n, prefix in ((True, 3000, "train"), (False, 600, "t10k")):
            x, y = load_mnist_like(name, data_root, train)
            _write_idx(folder / name / "raw" / f"{prefix}-images-idx3-ubyte", x[:n])
            _write_idx(folder / name / "raw" / f"{prefix}-labels-idx1-ubyte",
                       y[:n].to(torch.uint8))
    _write_fake_cifar(folder)
    from ecg_fixtures import write_mitdb
    from eeg_fixtures import write_eegmmidb

    write_mitdb(folder)  # MIT-BIH records and EEG files in their real formats (wfdb, MNE)
    write_eegmmidb(folder, 20, trials=12)  # 120 trials a group: more than the subset of 100
    return folder


def _config(name: str, scenario: str | None = None, **extra) -> StreamConfig:
    fields = {**SMALL, **({"chunks": 4} if _stream_learning(name) else {}), **extra}
    return resolve_stream(StreamConfig(name=name, scenario=scenario, **fields))


_CACHE: dict = {}


def _build(root: Path, name: str, scenario: str | None = None, seed: int = 0):
    key = (name, scenario, seed)
    if key not in _CACHE:
        config = _config(name, scenario)
        _CACHE[key] = config, build_stream(config, seed=seed, data_root=root)
    return _CACHE[key]


def _tensors(stream_part) -> list[tuple[torch.Tensor, ...]]:
    return [dataset_tensors(exp.dataset) for exp in stream_part]


@pytest.mark.parametrize("name", NAMES)
def test_registry_info_lists_scenarios_sizes_source_and_defaults(name):
    info = _info(name)
    assert info["scenarios"] and set(info["scenarios"]) <= {"task", "domain", "class"}
    assert info["source"] and info["sizes"]
    assert info["default_model"] in MODELS
    config = resolve_stream(StreamConfig(name=name))
    assert config.scenario == info["scenarios"][0]
    if _stream_learning(name):
        assert config.chunks == config.tasks == info["default_chunks"]
    else:
        assert config.chunks is None and config.tasks == info["default_tasks"]


@pytest.mark.parametrize("name, scenario", CASES)
def test_shapes_labels_and_task_labels_follow_the_scenario(root, name, scenario):
    config, stream = _build(root, name, scenario)
    assert stream.scenario == scenario and config.scenario == scenario
    assert stream.boundaries is _info(name).get("boundaries", True)
    train, test = _tensors(stream.train_stream), _tensors(stream.test_stream)
    assert len(train) == config.tasks
    assert len(test) == (1 if _stream_learning(name) else config.tasks)
    for i, (x, y, t) in enumerate(train + test):
        assert x.dtype == torch.float32 and tuple(x.shape[1:]) == stream.input_shape
        assert 0 <= int(y.min()) and int(y.max()) < stream.n_classes
        expected = i % config.tasks if scenario == "task" else 0
        assert torch.equal(t, torch.full_like(t, expected))
    for i, exp in enumerate(stream.train_stream):
        assert task_label_of(exp) == (i if scenario == "task" else 0)
    sizes = [len(y) for _, y, _ in train]
    assert max(sizes) <= SMALL["train_per_task"] and min(sizes) > 0


@pytest.mark.parametrize("name", NAMES)
def test_class_splits_are_disjoint_and_covering(root, name):
    if _stream_learning(name):
        config, stream = _build(root, name)
        (y_test,) = [y for _, y, _ in _tensors(stream.test_stream)]
        assert set(y_test.tolist()) == set(range(stream.n_classes))  # the whole test set
        return
    if "class" not in _info(name)["scenarios"]:  # pmnist: every task holds all ten digits
        _, stream = _build(root, name)
        for _, y, _ in _tensors(stream.train_stream):
            assert set(y.tolist()) == set(range(stream.n_classes))
        return
    _, stream = _build(root, name, "class")
    train, test = _tensors(stream.train_stream), _tensors(stream.test_stream)
    classes = [set(y.tolist()) for _, y, _ in train]
    for i, a in enumerate(classes):
        for b in classes[i + 1 :]:
            assert not a & b
    assert set().union(*classes) == set(range(stream.n_classes))
    for (_, y, _), seen in zip(test, classes):
        assert set(y.tolist()) <= seen
    if name == "cifar10-vehicles-animals":
        assert classes == [set(VEHICLES), set(ANIMALS)]


@pytest.mark.parametrize("name", [n for n in NAMES if "class" in _info(n)["scenarios"]])
def test_scenarios_label_the_same_images(root, name):
    """Same seed: same images in every scenario; labels global (class) or within the task."""
    _, by_class = _build(root, name, "class")
    for scenario in _info(name)["scenarios"]:
        _, stream = _build(root, name, scenario)
        for (xc, yc, _), (x, y, _) in zip(_tensors(by_class.train_stream),
                                          _tensors(stream.train_stream)):
            assert torch.equal(x, xc)
            if scenario == "class":
                continue
            group = sorted(set(yc.tolist()))
            assert torch.equal(y, torch.tensor([group.index(c) for c in yc.tolist()]))


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_stream(root, name):
    config, first = _build(root, name)
    again = build_stream(config, seed=0, data_root=root)
    other = build_stream(config, seed=1, data_root=root)
    a, b, c = (_tensors(s.train_stream) for s in (first, again, other))
    assert all(torch.equal(u, v) for ea, eb in zip(a, b) for u, v in zip(ea, eb))
    assert any(not torch.equal(ea[0], ec[0]) for ea, ec in zip(a, c))


@pytest.mark.parametrize("name", NAMES)
def test_refuses_what_it_cannot_honour(name):
    for scenario in {"task", "domain", "class"} - set(_info(name)["scenarios"]):
        with pytest.raises(ConfigError, match=f"stream.scenario='{scenario}' is invalid"):
            resolve_stream(StreamConfig(name=name, scenario=scenario))
    if _stream_learning(name):
        with pytest.raises(ConfigError, match="stream.tasks=3 is invalid"):
            resolve_stream(StreamConfig(name=name, chunks=5, tasks=3))
        assert resolve_stream(StreamConfig(name=name, chunks=5, tasks=5)).tasks == 5
    else:
        with pytest.raises(ConfigError, match="only stream-learning streams"):
            resolve_stream(StreamConfig(name=name, chunks=5))
        if "tasks" in _info(name):
            with pytest.raises(ConfigError, match="stream.tasks=3 is invalid"):
                resolve_stream(StreamConfig(name=name, tasks=3))


def test_resolve_fills_model_and_turns_resets_off_for_stream_learning():
    split = resolve(from_dict(RunConfig, {"stream": {"name": "split-cifar10"}}))
    assert split.model.name == "bnn-conv" and split.optim.reset_per_experience is True
    assert split.stream.tasks == 5 and split.stream.scenario == "task"
    chunks = resolve(from_dict(RunConfig, {"stream": {"name": "stream-fmnist"}}))
    assert chunks.optim.reset_per_experience is False and chunks.stream.chunks == 60
    assert chunks.model.name == "bnn" and chunks.stream.scenario == "domain"
    assert resolve(chunks) == chunks  # idempotent: the stamped config is the one that runs
    # the scenario is part of the stamp; leaving a default unset or naming it is the same run
    explicit = from_dict(RunConfig, {"stream": {"name": "split-cifar10", "scenario": "task",
                                                "tasks": 5}, "model": {"name": "bnn-conv"}})
    assert stamp(resolve(explicit)) == stamp(split)
    domain = from_dict(RunConfig, {"stream": {"name": "split-cifar10", "scenario": "domain"}})
    assert stamp(resolve(domain)) != stamp(split)


def test_iid_chunks_partition_the_dataset():
    chunks = iid_chunks(103, 10, torch.Generator().manual_seed(0))
    assert [len(c) for c in chunks] == [11, 11, 11] + [10] * 7
    assert sorted(torch.cat(chunks).tolist()) == list(range(103))
    again = iid_chunks(103, 10, torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(chunks, again))
    with pytest.raises(ValueError):
        iid_chunks(5, 6, torch.Generator())


def test_stream_fmnist_chunks_partition_fmnist_and_are_class_balanced(data_root):
    k = 10
    stream = build_stream(StreamConfig(name="stream-fmnist", chunks=k), seed=0,
                          data_root=data_root)
    train = _tensors(stream.train_stream)
    # Disjoint and covering: the chunks' images, as a multiset, are exactly the training set.
    probe = torch.randn(784, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    x_all = torch.cat([x for x, _, _ in train]).double()
    images, labels = load_mnist_like("FashionMNIST", data_root, True)
    whole = flat_pixels(images).double()  # the same float32 scaling as the stream
    assert torch.equal(torch.sort(x_all @ probe).values, torch.sort(whole @ probe).values)
    # i.i.d.: a chunk of n drawn without replacement from N = 60000 images, 6000 per class,
    # holds a hypergeometric count per class: mean n / 10, sigma below. Under i.i.d. 95.4 % of
    # the 100 (chunk, class) counts lie within 2 sigma; we ask >= 90 % (P(fail) < 1 %) and all
    # within 4 sigma. A class-sorted cut fails both by far.
    n, N = 60000 // k, 60000
    sigma = (n * 0.1 * 0.9 * (N - n) / (N - 1)) ** 0.5
    z = torch.stack([torch.bincount(y, minlength=10) for _, y, _ in train]).double()
    z = (z - n / 10) / sigma
    assert (z.abs() <= 2).double().mean() >= 0.90 and z.abs().max() <= 4
    assert torch.equal(torch.cat([y for _, y, _ in train]).bincount(), labels.bincount())


class _Recorder:
    """Records the optimizer's identity and Adam step count when each experience starts."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, int]] = []

    def __getattr__(self, name):  # every other Avalanche callback: do nothing
        if name.startswith(("before_", "after_")):
            return lambda *a, **k: None
        raise AttributeError(name)

    def before_training_exp(self, strategy, *args, **kwargs):
        steps = [s["step"] for s in strategy.optimizer.state.values()]
        self.seen.append((id(strategy.optimizer), max(steps, default=0)))


def _two_chunk_steps(root, reset: bool | None) -> tuple[list[tuple[int, int]], int]:
    data = {"stream": {"name": "stream-fmnist", "chunks": 2, "train_per_task": 300,
                       "test_per_task": 100},
            "model": {"hidden": [16]}, "train": {"epochs": 1}}
    config = resolve(from_dict(RunConfig, data))
    if reset is not None:  # the counterfactual: a learner that is told about the boundary
        import dataclasses

        config = dataclasses.replace(
            config, optim=dataclasses.replace(config.optim, reset_per_experience=reset))
    stream = build_stream(config.stream, seed=0, data_root=root)
    model = build_model(config, stream.input_shape, stream.n_classes)
    recorder = _Recorder()
    strategy = STRATEGIES.get("meta")(model, config, device="cpu", plugins=[recorder])
    for exp in stream.train_stream:
        strategy.train(exp)
    return recorder.seen, 300 // config.train.batch_size


def test_stream_learner_sees_no_boundary(data_root):
    seen, batches = _two_chunk_steps(data_root, None)
    # chunk 2 starts with chunk 1's optimizer and Adam moments: nothing marks the boundary
    assert seen[0][1] == 0 and seen[1] == (seen[0][0], batches)
    told, _ = _two_chunk_steps(data_root, True)
    assert told[1][1] == 0  # with a reset the step count restarts: the test can tell


def test_growing_head_masks_unseen_classes():
    model = torch.nn.Linear(4, 5)
    head = GrowingHeadPlugin(5)
    head.add_classes(torch.tensor([0, 2, 2]))
    head.attach(model)
    head.attach(model)  # idempotent: one hook
    logits = model(torch.randn(8, 4))
    assert (logits[:, [1, 3, 4]] == MASKED_LOGIT).all() and (logits[:, [0, 2]] > -100).all()
    assert (torch.softmax(logits, 1)[:, [1, 3, 4]] == 0).all()  # no probability at all
    loss = torch.nn.functional.cross_entropy(logits, torch.tensor([0, 2] * 4))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(model.weight.grad).all()
    head.add_classes(torch.tensor([4]))
    assert torch.isfinite(model(torch.randn(2, 4))[:, 4]).all()


def test_load_cifar_reads_torchvision_batches(root, tmp_path):
    x, y = load_cifar("CIFAR10", root, train=True)
    assert x.shape == (600, 3, 32, 32) and x.dtype == torch.uint8
    assert torch.bincount(y).tolist() == [60] * 10
    x100, y100 = load_cifar("CIFAR100", root, train=False)
    assert x100.shape == (200, 3, 32, 32) and torch.bincount(y100).tolist() == [2] * 100
    with pytest.raises(DataNotFoundError) as err:
        load_cifar("CIFAR10", tmp_path, train=True, download=False)
    assert all(s in str(err.value) for s in ("--data-root", "METABNN_DATA", "cifar-10-batches"))
    mean = torch.tensor([0.4914, 0.4822, 0.4465]).mul(255).round().to(torch.uint8)
    flat = standardise(mean.view(1, 3, 1, 1).expand(1, 3, 32, 32).contiguous(), "CIFAR10")
    assert flat.abs().max() < 0.01  # the channel mean maps to ~0


def _tiny_run(root, tmp_path, name, scenario=None, epochs=2, **extra):
    conv = MODELS.entry(_info(name)["default_model"]).info.get("input") == "image"
    stream = {"name": name, "scenario": scenario, **SMALL,
              **({"chunks": 3} if _stream_learning(name) else {}), **extra}
    data = {"stream": {k: v for k, v in stream.items() if v is not None},
            "model": {"hidden": [32], **({"channels": [8, 8]} if conv else {})},
            "train": {"epochs": epochs, "batch_size": 20}}
    return run(from_dict(RunConfig, data), data_root=root, out_dir=tmp_path, progress=False,
               log=lambda s: None)


@pytest.mark.parametrize("name", NAMES)
def test_short_run_writes_results_with_its_scenario(root, tmp_path, name):
    results = _tiny_run(root, tmp_path, name)
    on_disk = json.loads(Path(results["path"]).read_text())
    stored = on_disk["config"]["stream"]
    assert stored["tasks"] is not None and stored["scenario"] is not None  # stamped resolved
    config = from_dict(RunConfig, on_disk["config"])
    assert resolve(config) == config
    assert on_disk["scenario"] == _info(name)["scenarios"][0] == config.stream.scenario
    R = on_disk["accuracy_matrix"]
    cols = 1 if _stream_learning(name) else config.stream.tasks
    assert len(R) == config.stream.tasks and all(len(row) == cols for row in R)
    assert on_disk["boundaries"] is not _stream_learning(name)
    assert on_disk["strategy"]["reset_per_experience"] is not _stream_learning(name)
    # it learns: the first task, right after its training, is above chance
    _, stream = _build(root, name)
    chance = 1 / len(dataset_tensors(stream.test_stream[0].dataset)[1].unique())
    assert R[0][0] > chance + 0.1


def test_class_scenario_grows_one_head(root, tmp_path):
    results = _tiny_run(root, tmp_path, "split-mnist", "class", epochs=3, tasks=2,
                        train_per_task=400)
    R = results["accuracy_matrix"]
    assert results["scenario"] == "class"
    assert R[0][1] == 0.0  # classes 5-9 cannot be predicted before they are seen
    assert R[1][1] > 0.5  # and are learnt once they are


def test_list_streams_shows_scenarios_sizes_and_source(capsys):
    from metabnn.cli import main

    assert main(["list", "streams"]) == 0
    out = capsys.readouterr().out
    for name in NAMES:
        info = _info(name)
        block = out.split(name, 1)[1].split("\n")[:4]
        assert ", ".join(info["scenarios"]) in block[1] and info["default_model"] in block[1]
        assert info["sizes"] in block[2] and info["source"] in block[3]
