"""The strategy registry, and the checks and records every strategy shares.

A strategy factory is ``factory(model, config: RunConfig, *, device, plugins) -> strategy`` (an
Avalanche template), enrolled with ``@STRATEGIES.register(name, ...)`` and these ``info`` keys:

* ``scenarios`` — the stream scenarios it supports;
* ``params`` — each tunable parameter as ``key: (default, source)``. A plain key is set with
  ``--param key=value`` (``RunConfig.params``); a dotted key (``optim.lr``) names a config field
  the strategy reads, listed for ``metabnn list strategies`` and recorded with its run value;
* ``choices`` — optional ``key: (allowed, ...)`` for string parameters;
* ``models`` — the models it applies to (default: all);
* ``optimizer_reset`` — its optimizer-state policy, recorded in results files;
* ``trains_on`` — ``"experience"`` (default) or ``"stream"`` (one call on the whole stream);
* ``adam`` — ``False`` for a rule that is its own optimizer (``optim.*`` then unused);
* ``multi_head`` — ``False`` when it cannot train a multi-head model (its ``check`` refuses).

:func:`check_strategy` refuses unknown or ill-typed parameters in one line before any work
starts; :func:`hyperparameters` resolves the values a run uses; :func:`strategy_record` is what
``results.json`` stores about the strategy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from metabnn.config import ConfigError, RunConfig
from metabnn.registry import Registry, coerce_param

__all__ = [
    "STRATEGIES",
    "check_strategy",
    "hyperparameters",
    "strategy_record",
    "strategy_table",
]

STRATEGIES: Registry[Any] = Registry("strategy")


def _config_value(config: RunConfig, path: str) -> Any:
    value: Any = config
    for part in path.split("."):
        value = getattr(value, part)
    return list(value) if isinstance(value, tuple) else value


def _coerce(strategy: str, key: str, value: Any, default: Any) -> Any:
    return coerce_param(f"--param {key}={value!r} is invalid for strategy {strategy!r}", value,
                        default)


def hyperparameters(config: RunConfig) -> dict[str, Any]:
    """Every declared parameter of ``config.strategy`` with the value this run uses."""
    entry = STRATEGIES.entry(config.strategy)
    declared: Mapping[str, tuple[Any, str]] = entry.info.get("params", {})
    choices: Mapping[str, tuple[Any, ...]] = entry.info.get("choices", {})
    own = {k for k in declared if "." not in k}
    unknown = sorted(set(config.params) - own)
    if unknown:
        known = ", ".join(sorted(own)) or "none"
        raise ConfigError(
            f"--param {unknown[0]} is invalid: strategy {config.strategy!r} has no such "
            f"parameter (its parameters: {known}; see `metabnn list strategies`)"
        )
    out: dict[str, Any] = {}
    for key, (default, _source) in declared.items():
        if "." in key:
            out[key] = _config_value(config, key)
            continue
        value = config.params.get(key, default)
        if value is not None and default is not None:
            value = _coerce(config.strategy, key, value, default)
        if key in choices and value not in choices[key]:
            raise ConfigError(
                f"--param {key}={value!r} is invalid for strategy {config.strategy!r}: "
                f"expected one of {', '.join(map(str, choices[key]))}"
            )
        out[key] = value
    return out


def check_strategy(config: RunConfig) -> None:
    """Refuse an unknown strategy, parameter, scenario or model, in one line."""
    entry = STRATEGIES.entry(config.strategy)
    hyperparameters(config)
    check = entry.info.get("check")
    if check is not None:  # the strategy's own value checks (ranges of its --param values)
        check(config)
    scenarios = entry.info.get("scenarios", ())
    if config.stream.scenario is not None and config.stream.scenario not in scenarios:
        raise ConfigError(
            f"stream.scenario={config.stream.scenario!r} is invalid for strategy "
            f"{config.strategy!r}: allowed {', '.join(scenarios)}"
        )
    models = entry.info.get("models")
    if models is not None and config.model.name not in models:
        raise ConfigError(
            f"model.name={config.model.name!r} is invalid for strategy {config.strategy!r}: "
            f"allowed {', '.join(models)}"
        )


def strategy_record(config: RunConfig, strategy: Any) -> dict[str, Any]:
    """What a results file says about the strategy: name, hyperparameters, reset policy.

    Strategies add run facts of their own (e.g. which Fisher estimator ran) as a ``record``
    dict attribute.
    """
    entry = STRATEGIES.entry(config.strategy)
    return {
        "name": config.strategy,
        "description": entry.description,
        "hyperparameters": hyperparameters(config),
        "optimizer_reset": entry.info.get("optimizer_reset"),
        "reset_per_experience": config.optim.reset_per_experience,
        "trains_on": entry.info.get("trains_on", "experience"),
        **getattr(strategy, "record", {}),
    }


def strategy_table() -> str:
    """``metabnn list strategies``: name, description, scenarios, models, reset policy, params."""
    lines = []
    for entry in STRATEGIES.entries():
        info = entry.info
        lines.append(f"{entry.name}  —  {entry.description}")
        models = ", ".join(info.get("models", ("bnn", "mlp")))
        lines.append(f"    scenarios: {', '.join(info.get('scenarios', ()))}   models: {models}"
                     f"   trains on: {info.get('trains_on', 'experience')}")
        lines.append(f"    optimizer reset: {info.get('optimizer_reset', 'unspecified')}")
        params = info.get("params", {})
        for key, (default, source) in params.items():
            how = f"--set {key}" if "." in key else f"--param {key}"
            choices = info.get("choices", {}).get(key)
            extra = f" (one of {', '.join(map(str, choices))})" if choices else ""
            lines.append(f"    {how:<34} = {default!s:<10}{extra}  [{source}]")
        if not params:
            lines.append("    (no tunable parameters)")
    return "\n".join(lines)
