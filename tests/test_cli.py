import json

import pytest

from metabnn.cli import main


def test_help_documents_every_option_with_default(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--stream", "--tasks", "--hidden", "--epochs", "--meta", "--seed",
                 "--data-root", "--device"):
        assert flag in text
    assert "(default: 1.35)" in text and "(default: 100)" in text


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--meta", "-1"], "optim.meta=-1.0 is invalid: must be >= 0"),
        (["--tasks", "0"], "stream.tasks=0 is invalid: must be >= 1"),
        (["--hidden", "0", "5"], "model.hidden=[0, 5] is invalid"),
        (["--stream", "pmnst"], "unknown stream 'pmnst'; did you mean 'pmnist'?"),
        (["--strategy", "nope"], "unknown strategy 'nope'"),
        (["--set", "optim.meat=1"], "unknown config key optim.meat; did you mean optim.meta?"),
        (["--epochs", "three"], "argument --epochs: invalid int value: 'three'"),
    ],
)
def test_bad_input_one_line_exit_2_nothing_written(argv, message, tmp_path, capsys):
    code = main(["run", *argv, "--out", str(tmp_path / "runs")]) if argv[0] != "--epochs" else None
    if code is None:
        with pytest.raises(SystemExit) as exit_:
            main(["run", *argv])
        code = exit_.value.code
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


def test_missing_data_is_a_clear_error(tmp_path, capsys):
    code = main(["run", "--tasks", "1", "--data-root", str(tmp_path / "nodata"),
                 "--out", str(tmp_path / "runs"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "METABNN_DATA" in err and "--data-root" in err


def test_tiny_run_through_the_cli(data_root, tmp_path, capsys):
    code = main(["run", "--tasks", "2", "--hidden", "64", "--epochs", "1",
                 "--train-per-task", "1000", "--test-per-task", "500", "--seed", "1",
                 "--data-root", str(data_root), "--out", str(tmp_path), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0 and "accuracy matrix" in out and "task 1" in out
    (results,) = tmp_path.glob("*/results.json")
    assert json.loads(results.read_text())["config"]["model"]["hidden"] == [64]


def test_list_streams(capsys):
    assert main(["list", "streams"]) == 0
    assert "pmnist" in capsys.readouterr().out
