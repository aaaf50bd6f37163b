"""Bad input is refused at the door: one line naming the field, the value and what is allowed;
exit code 2; no traceback; nothing written (no run folder, no registry).

One table, run in-process through :func:`metabnn.cli.main` (each case costs milliseconds:
validation happens before any data is loaded), plus one case through a real subprocess to
show the whole process prints exactly one line.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from metabnn.cli import main

REPO = Path(__file__).resolve().parents[1]

# (id, argv after the subcommand, expected message fragment); "{d}" is a folder of files
# written by the fixture, "{data}" the real data root.
RUN_CASES = [
    ("negative-m", ["--meta", "-1"], "optim.meta=-1.0 is invalid: must be >= 0"),
    ("zero-tasks", ["--tasks", "0"], "stream.tasks=0 is invalid: must be >= 1"),
    ("hidden-zero", ["--hidden", "0", "5"],
     "model.hidden=[0, 5] is invalid: needs one or more widths, each >= 1"),
    ("hidden-negative", ["--hidden", "-3"], "model.hidden=[-3] is invalid"),
    ("ber-above-half", ["--ber", "0.7"], "hardware.ber=0.7 is invalid: must lie in [0, 0.5]"),
    ("ber-negative", ["--ber", "-0.1"], "hardware.ber=-0.1 is invalid: must lie in [0, 0.5]"),
    ("error-aware-ber", ["--error-aware-ber", "0.6"],
     "hardware.error_aware_ber=0.6 is invalid: must lie in [0, 0.5]"),
    ("prog-energy", ["--prog-energy-pj", "-1"],
     "hardware.prog_energy_pj=-1.0 is invalid: must be > 0"),
    ("sc-bits", ["--sc-bits", "0"], "hardware.sc_bits=0 is invalid: must be >= 1 or unset"),
    ("unknown-stream", ["--stream", "pmnst"], "unknown stream 'pmnst'; did you mean 'pmnist'?"),
    ("unknown-strategy", ["--strategy", "nope"], "unknown strategy 'nope' (known: "),
    ("unknown-hardware", ["--hardware", "nope"], "unknown hardware 'nope' (known: "),
    ("hardware-typo", ["--hardware", "rram"], "unknown hardware 'rram'; did you mean"),
    ("unknown-condition", ["--hardware", "rram-2t2r", "--condition", "bogus"], "bogus"),
    ("unknown-model", ["--model", "nope"], "unknown model 'nope' (known: "),
    ("scenario-name", ["--scenario", "foo"],
     "stream.scenario='foo' is invalid: must be one of task, domain, class"),
    ("scenario-stream-cannot", ["--stream", "stream-fmnist", "--scenario", "task"],
     "stream.scenario='task' is invalid for stream 'stream-fmnist': allowed domain"),
    ("head-scenario-cannot", ["--scenario", "domain", "--head", "multi"],
     "stream.head='multi' is invalid for the domain scenario of stream 'pmnist': allowed "
     "shared"),
    ("ood-dataset", ["--ood", "cifar"], "stream.ood='cifar' is invalid: must be fmnist, mnist"),
    ("eval-every", ["--eval-every", "task"],
     "train.eval_every='task' is invalid: must be epoch or experience"),
    ("mesu-on-bnn", ["--strategy", "mesu"],
     "model.name='bnn' is invalid for strategy 'mesu': allowed gaussian-mlp"),
    ("mesu-multi-head", ["--strategy", "mesu", "--model", "gaussian-mlp", "--head", "multi"],
     "stream.head='multi' is invalid for strategy 'mesu'"),
    ("iterations-zero", ["--iterations", "0"],
     "train.iterations=0 is invalid: must be >= 1 or unset"),
    ("eps-placement", ["--eps-placement", "middle"],
     "optim.eps_placement='middle' is invalid: must be one of before-bias-correction, "
     "after-bias-correction"),
    ("tasks-stream-cannot", ["--stream", "split-mnist", "--tasks", "3"],
     "stream.tasks=3 is invalid for stream 'split-mnist': allowed 1, 2, 5"),
    ("chunks-no-boundaries", ["--chunks", "3"],
     "stream.chunks=3 is invalid for stream 'pmnist': only stream-learning streams"),
    ("chunks-zero", ["--chunks", "0"], "stream.chunks=0 is invalid: must be >= 1 or unset"),
    ("train-per-task", ["--train-per-task", "0"],
     "stream.train_per_task=0 is invalid: must be >= 1 or unset"),
    ("epochs-zero", ["--epochs", "0"], "train.epochs=0 is invalid: must be >= 1"),
    ("batch-size", ["--batch-size", "1"], "train.batch_size=1 is invalid: must be >= 2"),
    ("eval-batch-size", ["--eval-batch-size", "1"], "train.eval_batch_size=1 is invalid"),
    ("lr-zero", ["--lr", "0"], "optim.lr=0.0 is invalid: must be > 0"),
    ("weight-decay", ["--weight-decay", "-1"], "optim.weight_decay=-1.0 is invalid: must be >= 0"),
    ("init-width", ["--init-width", "0"], "model.init_width=0.0 is invalid: must be > 0"),
    ("bn-weight-init", ["--bn-weight-init", "zeros"],
     "model.bn_weight_init='zeros' is invalid: must be one of uniform, ones"),
    ("sign-zero", ["--sign-zero", "minus-one"],
     "model.sign_zero='minus-one' is invalid: must be one of plus-one, zero"),
    ("sign-zero-on-hardware", ["--sign-zero", "zero", "--hardware", "rram-2t2r"],
     "model.sign_zero='zero' is invalid: must be plus-one on a hardware backend"),
    ("channels", ["--channels", "0"],
     "model.channels=[0] is invalid: needs one or more widths, each >= 1"),
    ("seed", ["--seed", "-1"], "seed=-1 is invalid: must be >= 0"),
    ("unknown-key", ["--set", "optim.meat=1"],
     "unknown config key optim.meat; did you mean optim.meta?"),
    ("unknown-section-key", ["--set", "model.hiden=[3]"],
     "unknown config key model.hiden; did you mean model.hidden?"),
    ("type-number", ["--set", "optim.meta=abc"], "optim.meta='abc' is invalid: expected a number"),
    ("type-int", ["--set", "train.epochs=1.5"], "train.epochs=1.5 is invalid: expected an integer"),
    ("type-bool-not-int", ["--set", "stream.tasks=true"],
     "stream.tasks=True is invalid: expected an integer"),
    ("type-list", ["--set", "model.hidden=5"], "model.hidden=5 is invalid: expected a list"),
    ("type-section", ["--set", "stream=5"], "stream=5 is invalid: expected a mapping"),
    ("betas-range", ["--set", "optim.betas=[0.9, 1.5]"],
     "optim.betas=[0.9, 1.5] is invalid: needs two values in [0, 1)"),
    ("set-not-key-value", ["--set", "noeq"], "--set 'noeq' is invalid: expected KEY=VALUE"),
    ("set-bad-yaml", ["--set", "optim.meta=["], "--set 'optim.meta=[' is invalid YAML"),
    ("param-unknown", ["--param", "nope=1"],
     "--param nope is invalid: strategy 'meta' has no such parameter"),
    ("param-type", ["--strategy", "ewc", "--param", "ewc_lambda=abc"],
     "--param ewc_lambda='abc' is invalid for strategy 'ewc': expected a number"),
    ("param-choice", ["--strategy", "ewc", "--param", "mode=bogus"],
     "--param mode='bogus' is invalid for strategy 'ewc': expected one of separate, online"),
    ("param-range-fisher", ["--strategy", "bnn-ewc", "--param", "fisher_samples=-5"],
     "--param fisher_samples=-5 is invalid: must be >= 0"),
    ("param-si-clip", ["--strategy", "si", "--param", "si_clip=[1]"],
     "--param si_clip=[1] is invalid: expected a number"),
    ("param-bop-gamma", ["--strategy", "bop", "--param", "gamma=2"],
     "--param gamma=2.0 is invalid: must lie in (0, 1]"),
    ("param-bop-threshold", ["--strategy", "bop", "--param", "threshold=-1"],
     "--param threshold=-1.0 is invalid: must be >= 0"),
    ("argparse-type", ["--epochs", "three"], "argument --epochs: invalid int value: 'three'"),
    ("config-missing", ["--config", "{d}/missing.yaml"], "missing.yaml: No such file"),
    ("config-not-mapping", ["--config", "{d}/list.yaml"], "expected a mapping at the top level"),
    ("config-unknown-key", ["--config", "{d}/unknown.yaml"],
     "unknown config key strem; did you mean stream?"),
    ("config-bad-yaml", ["--config", "{d}/broken.yaml"], "broken.yaml is invalid YAML"),
    ("config-type", ["--config", "{d}/hidden.yaml"],
     "model.hidden='abc' is invalid: expected a list"),
    ("data-root-missing", ["--data-root", "{d}/no-such-folder"],
     "--data-root='{d}/no-such-folder' is invalid: no such folder"),
    ("device-unknown", ["--device", "tpu"],
     "device='tpu' is invalid: use auto, cpu, cuda or cuda:N"),
    ("checkpoint-every", ["--checkpoint-every", "-1"],
     "--checkpoint-every=-1 is invalid: must be >= 0"),
    ("model-cannot-take-stream", ["--model", "bnn-conv", "--data-root", "{data}", "--tasks",
                                  "1", "--train-per-task", "100", "--test-per-task", "100"],
     "model.name='bnn-conv' is invalid for stream 'pmnist': it needs images"),
]

SWEEP_CASES = [
    ("sweep-missing", ["{d}/nofile.yaml"], "nofile.yaml: No such file"),
    ("sweep-unknown-key", ["{d}/sw_key.yaml"], "unknown keys ['bse']; expected name, base"),
    ("sweep-grid", ["{d}/sw_grid.yaml"], "grid must map dotted keys to non-empty lists"),
    ("sweep-seeds", ["{d}/sw_seeds.yaml"], "seeds must be a list of integers"),
    ("sweep-bad-point", ["{d}/sw_point.yaml"],
     "sweep point {'optim.meta': -1.0} seed 0: optim.meta=-1.0 is invalid: must be >= 0"),
    ("sweep-base-key", ["{d}/sw_base.yaml"],
     "unknown config key optim.mta; did you mean optim.meta?"),
    ("sweep-unknown-name", ["{d}/sw_name.yaml"], "unknown strategy 'nope'"),
    ("sweep-bad-yaml", ["{d}/broken.yaml"], "broken.yaml is invalid YAML"),
    ("sweep-workers", ["{d}/sw_ok.yaml", "--workers", "0"], "--workers 0 is invalid: must be >= 1"),
]

REPRODUCE_CASES = [
    ("reproduce-unknown", ["fig22"], "recipe 'fig22' is unknown (did you mean 'fig2'?)"),
    ("reproduce-seeds", ["fig2", "--seeds", "0"], "--seeds 0 is invalid: must be >= 1"),
    ("reproduce-workers", ["fig2", "--workers", "0"], "--workers 0 is invalid: must be >= 1"),
    ("reproduce-scale", ["fig2", "--scale", "huge"], "argument --scale: invalid choice: 'huge'"),
    ("reproduce-no-name", [], "reproduce needs a recipe NAME"),
    ("reproduce-data-root", ["fig2", "--data-root", "{d}/nowhere"], "no such folder"),
]

FILES = {
    "list.yaml": "- 1\n- 2\n",
    "unknown.yaml": "strem: {name: pmnist}\n",
    "broken.yaml": "stream: {name: pmnist\n",
    "hidden.yaml": "model: {hidden: abc}\n",
    "sw_key.yaml": "name: s\nbse: {}\n",
    "sw_grid.yaml": "name: s\ngrid: {optim.meta: 1.0}\n",
    "sw_seeds.yaml": "name: s\nseeds: [a]\n",
    "sw_point.yaml": "name: s\ngrid: {optim.meta: [-1.0]}\n",
    "sw_base.yaml": "name: s\nbase: {optim: {mta: 1}}\n",
    "sw_name.yaml": "name: s\ngrid: {strategy: [meta, nope]}\n",
    "sw_ok.yaml": "name: s\nbase: {stream: {tasks: 1}}\n",
}


@pytest.fixture
def files(tmp_path: Path) -> Path:
    d = tmp_path / "inputs"
    d.mkdir()
    for name, text in FILES.items():
        (d / name).write_text(text)
    return d


def _fill(items: list[str], d: Path, data: Path) -> list[str]:
    return [s.replace("{d}", str(d)).replace("{data}", str(data)) for s in items]


@pytest.mark.parametrize("command, argv, message", [
    *(pytest.param("run", a, m, id=i) for i, a, m in RUN_CASES),
    *(pytest.param("sweep", a, m, id=i) for i, a, m in SWEEP_CASES),
    *(pytest.param("reproduce", a, m, id=i) for i, a, m in REPRODUCE_CASES),
])
def test_bad_input_is_one_line_exit_2_nothing_written(
        command, argv, message, files, data_root, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("METABNN_REGISTRY", raising=False)
    monkeypatch.setenv("METABNN_DATA", str(data_root))
    out = tmp_path / "runs"
    full = [command, *_fill(argv, files, data_root), "--out", str(out)]
    try:
        code = main(full)
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    captured = capsys.readouterr()
    err = captured.err
    assert code == 2, (full, captured)
    assert _fill([message], files, data_root)[0] in err, err
    assert err.startswith("metabnn: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err + captured.out
    assert not out.exists()  # no run folder, no registry


# flags whose every value is valid (names are checked by their registries' cases above), or
# that take no value: why each has no bad-input case
NO_BAD_VALUE = {
    "--test-per-task": "the same validator as --train-per-task (its case above)",
    "--batchnorm": "checked with --head by the stream's protocol (head-scenario case)",
    "--ternary": "a switch", "--track-running-stats": "a switch",
    "--reset-optimizer": "a switch", "--condition": "covered (unknown-condition)",
}


def test_every_run_flag_has_a_bad_input_case():
    """A flag added without a case of bad input fails here (its refusal is then untested)."""
    from metabnn.cli import _BOOL_FLAGS, _FLAGS

    flags = [f for f, *_ in _FLAGS] + [f for f, *_ in _BOOL_FLAGS]
    covered = {a for _, argv, _ in RUN_CASES for a in argv if a.startswith("--")}
    missing = [f for f in flags if f not in covered and f not in NO_BAD_VALUE]
    assert not missing, f"flags without a bad-input case: {missing}"


def test_a_real_process_prints_one_line(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("METABNN_REGISTRY", None)
    proc = subprocess.run(
        [sys.executable, "-m", "metabnn.cli", "run", "--ber", "0.9", "--out", str(tmp_path / "r")],
        capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr == "metabnn: error: hardware.ber=0.9 is invalid: must lie in [0, 0.5]\n"
    assert proc.stdout == "" and not (tmp_path / "r").exists()


def test_a_reader_that_leaves_is_not_blamed_on_the_disk(monkeypatch, capsys):
    """`metabnn ... | head`: the pipe closes under the output; the message says so (not "free
    space"), and the exit code is the shell's for SIGPIPE."""

    class ClosedPipe:
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self) -> None:
            raise BrokenPipeError(32, "Broken pipe")

    capsys.readouterr()
    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main(["list", "strategies"]) == 141
    err = capsys.readouterr().err
    assert err.startswith("metabnn: output closed by the reader (broken pipe)"), err
    assert "free space" not in err and err.count("\n") == 1
