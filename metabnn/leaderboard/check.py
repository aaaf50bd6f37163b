"""Submission check: is a results file fit to enter a leaderboard?

:func:`check_file` reads the file as UTF-8 JSON text and nothing else: a pickle (or any binary
file) is refused by its bytes, and nothing is ever unpickled or evaluated; ``NaN`` and
``Infinity`` are refused too. :func:`check_results` then checks, each failure one reason:

* schema and types: every required key (:data:`REQUIRED`) with its type, ``seed`` an integer;
* ranges: accuracies in [0, 1], seed >= 0, wall time >= 0, hardware energies >= 0;
* the config: a complete :class:`~metabnn.config.RunConfig` (``to_dict(from_dict(c)) == c``)
  that validates, whose :func:`~metabnn.config.stamp` is the file's ``stamp`` (the runner stamps
  the *resolved* config, and the file records exactly that), whose seed, strategy and scenario
  are the file's;
* the accuracy matrix: its shape fits the protocol (``T x T`` for ``T`` tasks; ``1 x T`` for
  joint training; ``k x 1`` for stream learning), and every reported metric equals the one
  :mod:`metabnn.metrics` recomputes from it (absolute tolerance :data:`TOLERANCE`: JSON round
  trips floats exactly, so any difference is an edit);
* the per-epoch curves: well formed, ending on the matrix's last row;
* provenance: metabnn, torch and Avalanche versions, the git commit (a ``-dirty`` one is
  refused: no commit can regenerate the result), the device, the date, and the code fingerprint
  (:mod:`metabnn.fingerprint`), whose id must be the hash of its fields.

With ``against`` (the CLI's ``check`` passes this checkout's fingerprint), a file made by other
code — other sources or library versions; the thread count and device are how it ran, not which
code — is refused too: :func:`same_code`.
"""

from __future__ import annotations

import json
import math
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from metabnn.config import ConfigError, RunConfig, from_dict, stamp, to_dict
from metabnn.fingerprint import fingerprint_id
from metabnn.metrics import joint_summary, stream_summary, summarize

__all__ = ["TOLERANCE", "REQUIRED", "CODE_KEYS", "check_results", "check_file", "same_code",
           "CheckError"]

TOLERANCE = 1e-9
"""Largest accepted |reported - recomputed| of a metric (accuracies are fractions)."""

REQUIRED: dict[str, type | tuple[type, ...]] = {
    "stamp": str, "config": dict, "seed": int, "scenario": str, "boundaries": bool,
    "strategy": dict, "accuracy_matrix": list, "metrics": dict, "versions": dict,
    "git_commit": str, "device": str, "date": str, "wall_time_s": (int, float), "curves": list,
    "fingerprint": dict,
}
"""Keys every results file must have, with their JSON types."""

_VERSIONS = ("metabnn", "torch", "avalanche-lib")
_FINGERPRINT_KEYS = {"id", "sources", "torch", "avalanche-lib", "numpy", "device", "threads",
                     "kernels", "plugins"}
CODE_KEYS = ("sources", "plugins", "torch", "avalanche-lib", "numpy")
"""The fingerprint fields that say which code made a result (the rest say how it ran)."""
_PICKLE = b"\x80"  # the PROTO opcode every pickle of protocol 2 or later starts with


class CheckError(ValueError):
    """A results file was refused; the message names the file and every reason."""


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _matrix(results: dict[str, Any], config: RunConfig) -> list[str]:
    R = results["accuracy_matrix"]
    if not R or not all(isinstance(row, list) and row for row in R):
        return ["accuracy_matrix: must be a non-empty list of non-empty lists"]
    if len({len(row) for row in R}) != 1:
        return ["accuracy_matrix: rows of different lengths"]
    if not all(_number(a) for row in R for a in row):
        return ["accuracy_matrix: entries must be numbers"]
    if not all(0.0 <= a <= 1.0 for row in R for a in row):
        return ["accuracy_matrix: accuracies must lie in [0, 1]"]
    joint = results["strategy"].get("trains_on") == "stream"
    rows, cols = len(R), len(R[0])
    if not results["boundaries"]:
        shape_ok, want, summary = cols == 1, "k x 1 (stream learning)", stream_summary
    elif joint:
        shape_ok, want, summary = rows == 1 and cols == config.stream.tasks, (
            f"1 x {config.stream.tasks} (joint training)"), joint_summary
    else:
        shape_ok, want, summary = rows == cols == config.stream.tasks, (
            f"{config.stream.tasks} x {config.stream.tasks}"), summarize
    if not shape_ok:
        return [f"accuracy_matrix: shape {rows} x {cols}, expected {want}"]
    reasons = _curves(results["curves"], R)
    metrics = results["metrics"]
    for key, value in summary(R).items():
        if key not in metrics:
            reasons.append(f"metrics.{key}: missing")
        elif isinstance(value, str) or value is None:
            if metrics[key] != value:
                reasons.append(f"metrics.{key}: {metrics[key]!r}, expected {value!r}")
        elif not _number(metrics[key]):
            reasons.append(f"metrics.{key}: {metrics[key]!r} is not a number")
        elif abs(metrics[key] - value) > TOLERANCE:
            reasons.append(f"metrics.{key}: reported {metrics[key]!r} but the accuracy matrix "
                           f"gives {value!r}")
    return reasons


def _curves(curves: list[Any], R: list[list[float]]) -> list[str]:
    """Per-epoch accuracies: well formed, and the last one is the matrix's last row (the
    matrix rows are the accuracies after each experience's last epoch)."""
    ok = curves and all(
        isinstance(c, dict) and isinstance(c.get("experience"), int)
        and isinstance(c.get("epoch"), int) and isinstance(c.get("accuracy"), list)
        and len(c["accuracy"]) == len(R[0])
        and all(_number(a) and 0.0 <= a <= 1.0 for a in c["accuracy"]) for c in curves)
    if not ok:
        return ["curves: expected a list of {experience, epoch, accuracy: one number in [0, 1] "
                "per task}"]
    if curves[-1]["accuracy"] != R[-1]:
        return ["curves: the last epoch's accuracies are not the accuracy matrix's last row"]
    return []


def _dotted(data: dict[str, Any], prefix: str = "") -> set[str]:
    keys = set()
    for key, value in data.items():
        if isinstance(value, dict) and value and key != "params":
            keys |= _dotted(value, f"{prefix}{key}.")
        else:
            keys.add(f"{prefix}{key}")
    return keys


def _config(results: dict[str, Any]) -> tuple[RunConfig | None, list[str]]:
    try:
        config = from_dict(RunConfig, results["config"]).validate()
    except (ConfigError, TypeError) as err:
        return None, [f"config: {err}"]
    reasons = []
    canonical = to_dict(config)
    missing = sorted(_dotted(canonical) - _dotted(results["config"]))
    if missing:  # the schema grew since: the file is another metabnn's, not a tampered one
        reasons.append(f"config: written by an older metabnn (it lacks {', '.join(missing)}): "
                       "rerun the run with this code")
    elif canonical != results["config"]:
        reasons.append("config: incomplete or not canonical (to_dict(from_dict(config)) differs)")
    if not missing and stamp(config) != results["stamp"]:
        reasons.append(f"stamp: {results['stamp']!r} is not the config's stamp {stamp(config)!r}")
    if results["seed"] != config.seed:
        reasons.append(f"seed: {results['seed']} but config.seed is {config.seed}")
    if results["strategy"].get("name") != config.strategy:
        reasons.append(f"strategy.name: {results['strategy'].get('name')!r} but config.strategy "
                       f"is {config.strategy!r}")
    if results["scenario"] != config.stream.scenario:
        reasons.append(f"scenario: {results['scenario']!r} but config.stream.scenario is "
                       f"{config.stream.scenario!r}")
    if config.stream.tasks is None:
        reasons.append("config.stream.tasks: unset (a results file records the resolved config)")
    return config, reasons


def _provenance(results: dict[str, Any]) -> list[str]:
    reasons = []
    versions = results["versions"]
    for key in _VERSIONS:
        if not isinstance(versions.get(key), str) or not versions[key]:
            reasons.append(f"versions.{key}: missing")
    if results["git_commit"].endswith("-dirty"):
        reasons.append(f"git_commit: {results['git_commit'][:12]}-dirty: made from uncommitted "
                       "code that no commit can regenerate (commit, then rerun)")
    elif not re.fullmatch(r"[0-9a-f]{40}", results["git_commit"]):
        reasons.append(f"git_commit: {results['git_commit']!r} is not a 40-hex commit")
    fp = results["fingerprint"]
    if set(fp) != _FINGERPRINT_KEYS or fp.get("id") != fingerprint_id(fp):
        reasons.append("fingerprint: malformed (its fields, or an id that is not their hash)")
    if not results["device"]:
        reasons.append("device: empty")
    try:
        if datetime.fromisoformat(results["date"]).tzinfo is None:
            reasons.append(f"date: {results['date']!r} has no time zone")
    except ValueError:
        reasons.append(f"date: {results['date']!r} is not an ISO 8601 date")
    return reasons


def _hardware(results: dict[str, Any]) -> list[str]:
    hw = results.get("hardware")
    if hw is None:
        return []
    if not isinstance(hw, dict):
        return ["hardware: must be a mapping"]
    energies = hw.get("energy_total_pj", {})
    if not isinstance(energies, dict) or not all(_number(v) and v >= 0 for v in energies.values()):
        return ["hardware.energy_total_pj: must map phases to energies >= 0"]
    writes = (hw.get("measured_ber") or {}).get("writes", 0)
    if isinstance(writes, bool) or not isinstance(writes, int) or writes < 0:
        return ["hardware.measured_ber.writes: must be an integer >= 0"]
    return []


def check_results(results: Any) -> list[str]:
    """Every reason ``results`` (a parsed results file) is refused; empty when it is fit."""
    if not isinstance(results, dict):
        return ["not a JSON object"]
    reasons = []
    for key, tp in REQUIRED.items():
        if key not in results:
            reasons.append(f"{key}: missing")
        elif isinstance(results[key], bool) and tp is not bool:
            reasons.append(f"{key}: expected {_names(tp)}, got a boolean")
        elif not isinstance(results[key], tp):
            reasons.append(f"{key}: expected {_names(tp)}, got {type(results[key]).__name__}")
    if reasons:
        return reasons
    if results["seed"] < 0:
        reasons.append(f"seed: {results['seed']} must be >= 0")
    if not _number(results["wall_time_s"]) or results["wall_time_s"] < 0:
        reasons.append(f"wall_time_s: {results['wall_time_s']!r} must be a number >= 0")
    config, config_reasons = _config(results)
    reasons += config_reasons
    if config is not None and config.stream.tasks is not None:
        reasons += _matrix(results, config)
    return reasons + _provenance(results) + _hardware(results)


def _names(tp: type | tuple[type, ...]) -> str:
    names = {"str": "a string", "dict": "an object", "int": "an integer", "float": "a number",
             "bool": "a boolean", "list": "a list"}
    tps = tp if isinstance(tp, tuple) else (tp,)
    return " or ".join(names[t.__name__] for t in tps)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def same_code(a: dict[str, Any], b: dict[str, Any]) -> str | None:
    """``None`` when two fingerprints name the same code (:data:`CODE_KEYS`), else what
    differs, in words."""
    diff = [k if k == "sources" else f"{k} {a.get(k)} vs {b.get(k)}" for k in CODE_KEYS
            if a.get(k) != b.get(k)]
    return ", ".join(diff) or None


def check_file(path: str | os.PathLike[str], against: dict[str, Any] | None = None
               ) -> dict[str, Any]:
    """The checked results of ``path``; :class:`CheckError` naming the file and the reasons.
    ``against``: a code fingerprint the file's must match (:func:`same_code`)."""
    path = Path(path)
    if path.is_symlink() and not path.resolve().is_relative_to(path.parent.resolve()):
        raise CheckError(f"{path}: a symlink to {path.resolve()}, outside its folder: submit "
                         "the file itself")
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise CheckError(f"{path}: cannot read: {err.strerror}: check the path and its "
                         "permissions") from None
    if raw.startswith(_PICKLE):  # older protocols are ASCII opcodes: refused as not JSON below
        raise CheckError(f"{path}: a pickle or other binary file, not JSON (results files "
                         "are JSON; nothing is unpickled): submit the run's results.json")
    try:
        results = json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError) as err:
        raise CheckError(f"{path}: not UTF-8 JSON ({err}): submit the results.json a run "
                         "wrote, unchanged") from None
    reasons = check_results(results)
    fingerprint = results.get("fingerprint") if isinstance(results, dict) else None
    if against is not None and isinstance(fingerprint, dict) and "id" in fingerprint:
        differs = same_code(fingerprint, against)
        if differs:
            reasons.append(f"fingerprint: {fingerprint['id']} was made by other code "
                           f"than this checkout's ({against['id']}: {differs} differ); rerun "
                           "it with this code")
    if reasons:
        raise CheckError(f"{path}: " + "; ".join(reasons))
    return results
