import dataclasses

import pytest

from metabnn.config import ConfigError, RunConfig, from_dict, stamp, to_dict


def test_stamp_is_stable_and_sensitive():
    a = RunConfig()
    assert stamp(a) == stamp(RunConfig()) and len(stamp(a)) == 12
    b = dataclasses.replace(a, optim=dataclasses.replace(a.optim, meta=0.0))
    assert stamp(a) != stamp(b)


def test_round_trip_through_dict():
    config = from_dict(RunConfig, {"seed": 3, "model": {"hidden": [64, 32]}})
    assert config.model.hidden == (64, 32)
    assert from_dict(RunConfig, to_dict(config)) == config


@pytest.mark.parametrize(
    "data, message",
    [
        ({"optim": {"meat": 1.0}}, "unknown config key optim.meat; did you mean optim.meta?"),
        ({"seed": "zero"}, "seed='zero' is invalid: expected an integer"),
        ({"model": {"hidden": 5}}, "model.hidden=5 is invalid: expected a list"),
        ({"train": {"epochs": 1.5}}, "train.epochs=1.5 is invalid: expected an integer"),
    ],
)
def test_bad_keys_and_types(data, message):
    with pytest.raises(ConfigError) as err:
        from_dict(RunConfig, data)
    assert str(err.value) == message


@pytest.mark.parametrize(
    "data, field",
    [
        ({"optim": {"meta": -1.0}}, "optim.meta=-1.0"),
        ({"stream": {"tasks": 0}}, "stream.tasks=0"),
        ({"model": {"hidden": [0]}}, "model.hidden=[0]"),
        ({"train": {"batch_size": 1}}, "train.batch_size=1"),
        ({"stream": {"scenario": "online"}}, "stream.scenario='online'"),
    ],
)
def test_out_of_range_values(data, field):
    with pytest.raises(ConfigError, match=field.replace("[", r"\[").replace("]", r"\]")):
        from_dict(RunConfig, data).validate()


def test_sign_zero_is_a_bnn_option_refused_on_hardware_and_by_batched_seeds():
    from metabnn.multiseed import check_batched
    from metabnn.runner import ignored, validate

    zero = {"model": {"name": "bnn", "sign_zero": "zero"}}
    config = validate(from_dict(RunConfig, zero).validate())
    assert config.model.sign_zero == "zero" and ignored(config) == []
    with pytest.raises(ConfigError, match="model.sign_zero='zero' is invalid: must be plus-one "
                                          "on a hardware backend"):
        from_dict(RunConfig, {**zero, "hardware": {"name": "rram-2t2r"}}).validate()
    with pytest.raises(ConfigError, match="must be one of plus-one, zero"):
        from_dict(RunConfig, {"model": {"sign_zero": "one"}}).validate()
    with pytest.raises(ConfigError, match="--batched-seeds cannot run model.sign_zero='zero'"):
        check_batched(config)
    fp = from_dict(RunConfig, {"model": {"name": "mlp", "sign_zero": "zero"}}).validate()
    assert any("model.sign_zero" in line and "does not use it" in line for line in ignored(fp))
    assert validate(fp).model.sign_zero == "plus-one"  # dropped: the same run as the default
