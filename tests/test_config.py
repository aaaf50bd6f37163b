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
