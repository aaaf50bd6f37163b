"""Reproduction recipes: a paper's experiment as data, at three scales.

A recipe is a YAML file in ``metabnn/reproduce/recipes/``::

    name: fig2
    title: one line
    paper: the citation
    kind: runs                 # runs: a sweep of `metabnn run`s; ber: metabnn.hardware.sweep_ber
    protocol: the full-scale protocol, in words
    sweep: {base: ..., grid: ..., seeds: [0]}   # kind runs: a `metabnn sweep` file (its schema)
    ber: {hidden: [...], ...}                    # kind ber:
    metabnn.hardware.sweep_ber.SweepBERConfig
    scales:
      quick: {protocol: ..., set: {dotted.key: value}, grid: {dotted.key: [values]},
              variants: {variant name: {dotted.key: value}}}
      smoke: {...}
    report: {figure: task_curves | lines | bars | per_task, x: ..., hue: ..., panels: [...],
             y: metric, rows: [keys], metrics: [metric, ...]}
    expected:
      - claim: what the paper says, in words
        source: figure / table / section
        metric: a metric name (metabnn.reproduce.report)
        where: {key: value}                    # the rows it is measured on (mean over seeds)
        paper: 0.97                            # the paper's value, when it gives one
        band: {quick: [lo, hi], full: [lo, hi]}   # ours must lie in it (per scale)
        versus: {where: {...}, margin: 0.05}   # or: ours(where) - ours(versus) >= margin

``full`` is the paper's protocol (the ``sweep``/``ber`` section as written); ``quick`` and
``smoke`` apply dotted overrides to the sweep's ``base`` (``set``), replace grid axes
(``grid``) and patch single entries of a ``variant`` axis by name (``variants``).
:func:`resolve` returns the validated :class:`~metabnn.sweep.SweepSpec` (every run
config checked) or ``SweepBERConfig`` of a scale, so a recipe that does not fit the schema
fails at load, not after an hour.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from metabnn.config import ConfigError

__all__ = ["Recipe", "BerPlan", "SCALES", "KINDS", "recipe_names", "load_recipe", "resolve"]

SCALES = ("quick", "full", "smoke")
KINDS = ("runs", "ber")
_KEYS = {"name", "title", "paper", "kind", "protocol", "sweep", "ber", "scales", "report",
         "expected"}
_SCALE_KEYS = {"protocol", "set", "grid", "seeds", "variants"}
_CLAIM_KEYS = {"claim", "source", "metric", "where", "paper", "band", "versus", "unit"}


@dataclass(frozen=True)
class Recipe:
    """A parsed recipe file (see the module docstring for the format)."""

    name: str = field(metadata={"help": "the recipe's name: `metabnn reproduce NAME`"})
    title: str = field(metadata={"help": "one line: what the experiment shows"})
    paper: str = field(metadata={"help": "the paper it reproduces"})
    kind: str = field(metadata={"help": "runs (a sweep of runs) or ber "
                                        "(metabnn.hardware.sweep_ber)"})
    protocol: str = field(metadata={"help": "the full-scale protocol, in words"})
    body: dict[str, Any] = field(metadata={"help": "the sweep (kind runs) or sweep-ber config"})
    scales: dict[str, dict[str, Any]] = field(metadata={"help": "quick / smoke overrides"})
    report: dict[str, Any] = field(metadata={"help": "figure layout and table columns"})
    expected: tuple[dict[str, Any], ...] = field(
        metadata={"help": "the paper's values and claims, each with its source"})
    path: str = field(default="", metadata={"help": "the file it was read from"})

    def protocol_of(self, scale: str) -> str:
        """The protocol in words at ``scale``."""
        if scale == "full":
            return self.protocol
        return str(self.scales.get(scale, {}).get("protocol", f"{scale} scale of: "
                                                  + self.protocol))


@dataclass(frozen=True)
class BerPlan:
    """A ``ber`` recipe at one scale: the sweep-ber config, the cell that prices a write at each
    BER (``ideal``: no energy axis) and the seeds (one training of each kind per seed)."""

    config: Any
    cell: str
    seeds: tuple[int, ...]


def _folder() -> Path:
    return Path(str(resources.files("metabnn.reproduce") / "recipes"))


def recipe_names() -> list[str]:
    """The bundled recipes, in the order of the paper list (file names are ``NN-name.yaml``)."""
    return [_name_of(p) for p in sorted(_folder().glob("*.yaml"))]


def _name_of(path: Path) -> str:
    return path.stem.split("-", 1)[1] if path.stem[:2].isdigit() else path.stem


def _did_you_mean(name: str, names: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, names, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def load_recipe(name_or_path: str | Path) -> Recipe:
    """A bundled recipe by name, or a recipe file by path; checked against the schema."""
    import yaml

    path = Path(name_or_path)
    if not path.suffix:
        found = {_name_of(p): p for p in _folder().glob("*.yaml")}
        if str(name_or_path) not in found:
            names = sorted(found)
            raise ConfigError(f"recipe {str(name_or_path)!r} is unknown"
                              f"{_did_you_mean(str(name_or_path), names)}: "
                              f"use one of {', '.join(recipe_names())}")
        path = found[str(name_or_path)]
    from metabnn.files import read_text

    text = read_text(path, "recipe file")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"recipe file {path} is invalid YAML: {type(err).__name__}") from None
    return _parse(data, str(path))


def _parse(data: Any, where: str) -> Recipe:
    if not isinstance(data, dict):
        raise ConfigError(f"recipe {where}: expected a mapping at the top level")
    unknown = set(data) - _KEYS
    if unknown:
        raise ConfigError(f"recipe {where}: unknown keys {sorted(unknown)}; "
                          f"expected {', '.join(sorted(_KEYS))}")
    kind = data.get("kind")
    if kind not in KINDS:
        raise ConfigError(f"recipe {where}: kind={kind!r} is invalid: use one of "
                          f"{', '.join(KINDS)}")
    for key in ("name", "title", "paper", "protocol", kind if kind == "ber" else "sweep"):
        if not data.get(key):
            raise ConfigError(f"recipe {where}: {key!r} is missing")
    scales = data.get("scales") or {}
    for scale, over in scales.items():
        if scale not in SCALES or scale == "full":
            raise ConfigError(f"recipe {where}: scales.{scale} is invalid: use quick or smoke "
                              "(full is the sweep as written)")
        if not isinstance(over, dict) or set(over) - _SCALE_KEYS:
            raise ConfigError(f"recipe {where}: scales.{scale} takes "
                              f"{', '.join(sorted(_SCALE_KEYS))}")
    expected = data.get("expected") or []
    for i, claim in enumerate(expected):
        if not isinstance(claim, dict) or set(claim) - _CLAIM_KEYS or not {
                "claim", "source", "metric"} <= set(claim):
            raise ConfigError(f"recipe {where}: expected[{i}] needs claim, source and metric "
                              f"and takes {', '.join(sorted(_CLAIM_KEYS))}")
        if "band" not in claim and "versus" not in claim:
            raise ConfigError(f"recipe {where}: expected[{i}] needs a band or a versus")
    recipe = Recipe(name=str(data["name"]), title=str(data["title"]), paper=str(data["paper"]),
                    kind=kind, protocol=str(data["protocol"]),
                    body=data["sweep"] if kind == "runs" else data["ber"], scales=scales,
                    report=data.get("report") or {}, expected=tuple(expected), path=where)
    for scale in SCALES:
        resolve(recipe, scale)  # every scale validates now
    return recipe


def resolve(recipe: Recipe, scale: str, *, seeds: int | None = None) -> Any:
    """The recipe at ``scale``: a :class:`~metabnn.sweep.SweepSpec` whose runs are all valid
    (kind runs) or a :class:`BerPlan` (kind ber). ``seeds``: use seeds ``0 .. seeds-1``."""
    if scale not in SCALES:
        raise ConfigError(f"--scale {scale!r} is invalid: use one of {', '.join(SCALES[:2])}")
    if seeds is not None and seeds < 1:
        raise ConfigError(f"--seeds {seeds} is invalid: must be >= 1")
    over = recipe.scales.get(scale, {}) if scale != "full" else {}
    where = f"recipe {recipe.name} ({scale})"
    if recipe.kind == "ber":
        from metabnn.hardware.sweep_ber import SweepBERConfig

        values = {**recipe.body, **(over.get("set") or {})}
        run_seeds = list(over.get("seeds") or values.pop("seeds", None) or [0])
        values.pop("seeds", None)
        if seeds is not None:
            run_seeds = list(range(seeds))
        fields = {f.name for f in dataclasses.fields(SweepBERConfig)}
        unknown = set(values) - fields - {"cell"}
        if unknown:
            raise ConfigError(f"{where}: unknown sweep-ber fields {sorted(unknown)}")
        cell = str(values.pop("cell", "ideal"))
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        try:
            config = SweepBERConfig(**values)
        except TypeError as err:
            raise ConfigError(f"{where}: {err}") from None
        if cell != "ideal":
            from metabnn.hardware.registry import HARDWARE

            HARDWARE.get(cell)  # an unknown cell fails here
        return BerPlan(config=config, cell=cell, seeds=tuple(run_seeds))
    from metabnn.runner import validate
    from metabnn.sweep import expand, parse_sweep, set_dotted

    body = copy.deepcopy(recipe.body)
    body.setdefault("name", f"reproduce-{recipe.name}-{scale}")
    body["name"] = f"reproduce-{recipe.name}-{scale}"
    body.setdefault("base", {})
    for key, value in (over.get("set") or {}).items():
        set_dotted(body["base"], key, value)
    grid = dict(body.get("grid") or {})
    grid.update(over.get("grid") or {})
    patches = over.get("variants") or {}
    if patches:  # scale settings of single variants, by name: {name: {dotted key: value}}
        names = [v.get("name") for v in grid.get("variant") or [] if isinstance(v, dict)]
        unknown = sorted(set(patches) - set(names))
        if unknown:
            raise ConfigError(f"{where}: variants {unknown} are not in the grid's variant list")
        grid["variant"] = [{**v, **patches.get(v.get("name"), {})} for v in grid["variant"]]
    body["grid"] = grid
    if "seeds" in over:
        body["seeds"] = over["seeds"]
    if seeds is not None:
        body["seeds"] = list(range(seeds))
    spec = parse_sweep(body, where)
    expand(spec, validate)  # every run config checked before any work
    return spec
