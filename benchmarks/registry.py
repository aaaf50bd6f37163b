"""The stream registry and the object every stream factory returns.

A stream factory is ``factory(config: StreamConfig, *, seed: int, data_root: Path) -> Stream``,
enrolled with ``@STREAMS.register(name, scenarios=(...), source="...")``. Factories build data
only; they never own training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from metabnn.config import ConfigError, StreamConfig
from metabnn.registry import Registry

__all__ = ["STREAMS", "Stream", "check_scenario"]

STREAMS: Registry[Any] = Registry("stream")


@dataclass
class Stream:
    """An Avalanche benchmark plus what a model needs to know about its data."""

    benchmark: Any
    input_shape: tuple[int, ...]
    n_classes: int
    scenario: str

    @property
    def train_stream(self) -> Any:
        return self.benchmark.train_stream

    @property
    def test_stream(self) -> Any:
        return self.benchmark.test_stream


def check_scenario(name: str, config: StreamConfig) -> None:
    """Refuse a scenario the stream ``name`` cannot honour."""
    allowed = STREAMS.entry(name).info.get("scenarios", ())
    if config.scenario not in allowed:
        raise ConfigError(
            f"stream.scenario={config.scenario!r} is invalid for stream {name!r}: "
            f"allowed {', '.join(allowed)}"
        )
