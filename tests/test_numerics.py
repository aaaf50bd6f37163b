"""Subnormal floats are flushed to zero on the CPU, by every entry point that trains."""

from __future__ import annotations

import pytest
import torch

import metabnn.multiseed as multiseed
import metabnn.runner as runner
from metabnn.config import RunConfig, from_dict
from metabnn.numerics import flush_subnormals

SUBNORMAL = 1e-39  # below float32's smallest normal number, 1.18e-38


def test_flushing_turns_subnormal_inputs_and_results_into_zero():
    try:
        torch.set_flush_denormal(False)
        x = torch.tensor([SUBNORMAL])
        assert (x * 1.0).item() != 0.0 and (torch.tensor([1e-20]) * 1e-19).item() != 0.0
        assert flush_subnormals()
        assert (x * 1.0).item() == 0.0  # read as zero (DAZ)
        assert (torch.tensor([1e-20]) * 1e-19).item() == 0.0  # a subnormal result (FTZ)
        assert (torch.tensor([2e-38]) * 1.0).item() == pytest.approx(2e-38)  # normal: kept
    finally:
        flush_subnormals()  # the suite runs in the runner's mode (conftest)


class _Started(Exception):
    pass


@pytest.mark.parametrize("entry", ["run", "run_batched"])
def test_every_run_flushes_before_anything_else(entry, monkeypatch, tmp_path):
    def started():
        raise _Started

    monkeypatch.setattr(runner if entry == "run" else multiseed, "flush_subnormals", started)
    config = from_dict(RunConfig, {"stream": {"name": "pmnist", "tasks": 2}})
    with pytest.raises(_Started):
        if entry == "run":
            runner.run(config, out_dir=tmp_path, data_root=tmp_path / "nowhere")
        else:
            multiseed.run_batched(config, [0, 1], out_dir=tmp_path,
                                  data_root=tmp_path / "nowhere")
    assert not any(tmp_path.iterdir())
