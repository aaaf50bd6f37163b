"""Checkpoint files (metabnn.checkpoint) and failures during a run.

* plain state round-trips exactly; anything else is refused before a byte is written;
* a file holding a pickled object is refused at load, and the object's code never runs;
* a write that fails (disk full) leaves the previous checkpoint intact, with no temp file;
* the global RNG states round-trip (the next draws are equal);
* in a run: a NaN loss and a full disk mark the run failed with the reason, keep the last good
  checkpoint, and the rerun continues from it; W&B crashing does not fail the run.
"""

from __future__ import annotations

import errno
import json
import pickle
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from metabnn.checkpoint import (
    CheckpointError,
    check_plain,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from metabnn.config import RunConfig, from_dict, stamp
from metabnn.runner import run, validate
from metabnn.runs import RunRegistry


def _state() -> dict:
    return {"model": {"w": torch.randn(3, 4), "n": torch.tensor(7)}, "position":
            {"experience": 1, "epoch": 2}, "curves": [{"accuracy": [0.5, 0.25]}],
            "by_task": {0: {"bn": torch.ones(2)}}, "none": None, "pair": (1, "a")}


def test_plain_state_round_trips_exactly(tmp_path):
    state = _state()
    save_checkpoint(tmp_path / "c.pt", state)
    back = load_checkpoint(tmp_path / "c.pt")
    assert torch.equal(back["model"]["w"], state["model"]["w"])
    assert back["by_task"][0]["bn"].tolist() == [1.0, 1.0]
    assert back["position"] == {"experience": 1, "epoch": 2} and back["curves"] == state["curves"]
    assert back["format"] == 1


class _Thing:
    pass


@pytest.mark.parametrize("bad, where", [
    ({"a": _Thing()}, "checkpoint.a: _Thing is not plain state"),
    ({"a": [1, np.zeros(2)]}, "checkpoint.a.1: ndarray is not plain state"),
    ({"a": {(1, 2): 3}}, "checkpoint.a: key (1, 2) is not a string or integer"),
    ({"f": lambda: 0}, "checkpoint.f: function is not plain state"),
])
def test_non_plain_state_is_refused_before_writing(bad, where, tmp_path):
    with pytest.raises(CheckpointError, match=where.replace("(", r"\(").replace(")", r"\)")):
        save_checkpoint(tmp_path / "c.pt", bad)
    assert list(tmp_path.iterdir()) == []


class _Evil:
    """Unpickling this would run code: it creates a marker file."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickled_object_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format": 1, "model": {}, "payload": _Evil(str(marker))}, path)
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="refused: it holds an object that is not plain"):
        load_checkpoint(path)
    assert not marker.exists()
    # the same with a raw pickle (not a torch zip file)
    raw = tmp_path / "raw.pt"
    raw.write_bytes(pickle.dumps({"format": 1, "x": _Evil(str(marker))}))
    with pytest.raises(CheckpointError):
        load_checkpoint(raw)
    assert not marker.exists()


def test_other_formats_and_garbage_are_refused(tmp_path):
    torch.save({"format": 99}, tmp_path / "v.pt")
    with pytest.raises(CheckpointError, match="format 99, expected 1"):
        load_checkpoint(tmp_path / "v.pt")
    (tmp_path / "g.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "g.pt")


def test_disk_full_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"v": torch.tensor(1)})
    real_save = torch.save

    def full(obj, fh, *args, **kwargs):
        fh.write(b"partial bytes")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(path, {"v": torch.tensor(2)})
    monkeypatch.setattr(torch, "save", real_save)
    assert load_checkpoint(path)["v"].item() == 1
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temp file left


def test_rng_states_round_trip():
    check_plain(rng_state())
    state = rng_state()
    first = (torch.rand(3), np.random.rand(3), random.random())
    set_rng_state(state)
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(first[0], again[0])
    assert (first[1] == again[1]).all() and first[2] == again[2]


def _tiny(epochs: int = 2) -> RunConfig:
    return validate(from_dict(RunConfig, {
        "stream": {"name": "pmnist", "tasks": 2, "train_per_task": 300, "test_per_task": 200},
        "model": {"hidden": [16]}, "train": {"epochs": epochs}}))


def test_nan_loss_fails_the_run_and_keeps_the_last_good_checkpoint(
        data_root, tmp_path, monkeypatch):
    from metabnn.resume import NonFiniteLossError
    from metabnn.strategies import MetaplasticStrategy

    config = _tiny(epochs=1)
    folder = tmp_path / stamp(config)
    real = MetaplasticStrategy.criterion

    def poisoned(self):  # the second experience's loss is NaN
        loss = real(self)
        return loss * float("nan") if self.clock.train_exp_counter == 1 else loss

    monkeypatch.setattr(MetaplasticStrategy, "criterion", poisoned)
    with pytest.raises(NonFiniteLossError, match="NaN or infinite in experience 1, epoch 1"):
        run(config, data_root=data_root, out_dir=tmp_path, progress=False, log=lambda s: None)
    row = RunRegistry(tmp_path / "registry.sqlite").get(stamp(config))
    assert row["status"] == "failed" and row["error"].startswith("NonFiniteLossError: the "
                                                                "training loss became NaN")
    kept = load_checkpoint(folder / "checkpoint.pt")
    assert kept["position"] == {"experience": 1, "epoch": 0}  # after experience 0: finite
    assert all(torch.isfinite(v).all() for v in kept["model"].values() if v.is_floating_point())
    monkeypatch.setattr(MetaplasticStrategy, "criterion", real)
    lines: list[str] = []
    done = run(config, data_root=data_root, out_dir=tmp_path, progress=False, log=lines.append)
    # a resume, not a restart: it continued after experience 0 and trained only experience 1
    assert any(s.startswith("resuming from") and "experience 1, 0 epoch(s) done" in s
               for s in lines), lines
    assert ("resumed: trained 1 of 2 epochs in this process; the checkpoint held the first 1"
            in lines), lines
    fresh = run(config, data_root=data_root, out_dir=tmp_path / "fresh", progress=False,
                log=lambda s: None)
    assert done["accuracy_matrix"] == fresh["accuracy_matrix"]


def test_disk_full_during_a_run_fails_it_with_the_reason(data_root, tmp_path, monkeypatch):
    import metabnn.resume as resume

    config = _tiny()
    folder = tmp_path / stamp(config)
    real, calls = resume.save_checkpoint, []

    def full_on_second(path, state):
        calls.append(state["position"])
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, state)

    monkeypatch.setattr(resume, "save_checkpoint", full_on_second)
    with pytest.raises(OSError):
        run(config, data_root=data_root, out_dir=tmp_path, progress=False, log=lambda s: None)
    row = RunRegistry(tmp_path / "registry.sqlite").get(stamp(config))
    assert row["status"] == "failed" and "No space left on device" in row["error"]
    assert load_checkpoint(folder / "checkpoint.pt")["position"] == {"experience": 0, "epoch": 1}
    assert not (folder / "results.json").exists()
    assert json.loads((folder / "config.json").read_text())["stamp"] == stamp(config)


def test_wandb_crashing_never_fails_the_run(data_root, tmp_path, monkeypatch):
    import wandb

    def unreachable(*args, **kwargs):
        raise ConnectionError("api.wandb.ai unreachable")

    monkeypatch.setattr(wandb, "init", unreachable)
    config = validate(from_dict(RunConfig, {
        "stream": {"name": "pmnist", "tasks": 1, "train_per_task": 200, "test_per_task": 100},
        "model": {"hidden": [16]}, "train": {"epochs": 1}}))
    with pytest.warns(RuntimeWarning, match="W&B logging turned off for this run: "
                      "ConnectionError: api.wandb.ai unreachable"):
        results = run(config, data_root=data_root, out_dir=tmp_path, progress=False,
                      log=lambda s: None, wandb="offline")
    assert RunRegistry(tmp_path / "registry.sqlite").status(stamp(config)) == "done"
    assert len(results["accuracy_matrix"]) == 1


# The tests below were added for survivors of the mutation run (scripts/mutation.sh).


def test_the_temporary_file_is_hidden_beside_the_target_in_new_folders(tmp_path, monkeypatch):
    """Atomic only if the temp file is on the target's filesystem: it is written in the
    target's folder (created, parents too) as ``.<name>.*.tmp``, then renamed."""
    import os

    renames = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: renames.append(a) or real_replace(a, b))
    path = save_checkpoint(tmp_path / "a" / "b" / "ckpt.pt", {"x": torch.ones(2)})
    (tmp,) = renames
    tmp = Path(tmp)
    assert tmp.parent == path.parent
    assert tmp.name.startswith(".ckpt.pt.") and tmp.name.endswith(".tmp")
    assert sorted(p.name for p in path.parent.iterdir()) == ["ckpt.pt"]


def test_a_symlink_inside_its_folder_is_read(tmp_path):
    path = save_checkpoint(tmp_path / "ckpt.pt", {"x": torch.ones(2)})
    link = tmp_path / "latest.pt"
    link.symlink_to(path.name)
    assert torch.equal(load_checkpoint(link)["x"], torch.ones(2))


def test_a_one_byte_file_is_damaged_not_empty(tmp_path):
    path = tmp_path / "ckpt.pt"
    path.write_bytes(b"x")
    with pytest.raises(CheckpointError) as got:
        load_checkpoint(path)
    assert "empty" not in str(got.value)
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match="is empty"):
        load_checkpoint(path)


def test_a_refused_object_is_named_by_torchs_reason(tmp_path, monkeypatch):
    """The message names what torch refused (its "Unsupported ..." line, not its generic last
    line); a reason without one shows its last line, cut at 200 characters; none: the type."""
    path = tmp_path / "ckpt.pt"
    torch.save({"format": 1, "when": __import__("datetime").date(2026, 1, 1)}, path)
    with pytest.raises(CheckpointError) as got:
        load_checkpoint(path)
    assert str(got.value) == (
        f"checkpoint {path} refused: it holds an object that is not plain state (Unsupported "
        "global: GLOBAL datetime.date was not an allowed global by default)")
    path.write_bytes(b"x")
    with pytest.raises(CheckpointError, match=r"state \(Unsupported operand 120\)$"):
        load_checkpoint(path)

    def refuse(message):
        def load(*args, **kwargs):
            raise pickle.UnpicklingError(message)
        return load

    monkeypatch.setattr(torch, "load", refuse("first\n\nsecond\n" + "y" * 300 + "\n"))
    with pytest.raises(CheckpointError, match=r"\(" + "y" * 200 + r"\)$"):
        load_checkpoint(path)
    monkeypatch.setattr(torch, "load", refuse("Weights only load failed.\n\tWeightsUnpickler "
                                              "error: Unsupported opcode X.\n\nCheck ..."))
    with pytest.raises(CheckpointError, match=r"\(Unsupported opcode X\)$"):
        load_checkpoint(path)
    monkeypatch.setattr(torch, "load", refuse(""))
    with pytest.raises(CheckpointError, match=r"\(UnpicklingError\)$"):
        load_checkpoint(path)


def test_a_file_of_plain_data_that_is_not_a_dict_is_named_by_its_type(tmp_path):
    path = tmp_path / "ckpt.pt"
    torch.save([1, 2], path)
    with pytest.raises(CheckpointError) as got:
        load_checkpoint(path)
    assert str(got.value) == f"checkpoint {path} refused: format 'list', expected 1"
