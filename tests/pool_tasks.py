"""Stand-in per-run functions for the local sweep's process pool (tests/test_sweep.py): they
train nothing, so what is tested is how the pool survives a worker killed from outside."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any


def killed(config: dict[str, Any], opts: dict[str, Any]) -> dict[str, Any]:
    """SIGKILL this worker (as the out-of-memory killer does) when the run's ``"<seed>-<m>"``
    is in ``opts["kill"]``: the first time only with ``opts["once"]``, else every time;
    otherwise succeed at once. Every call leaves ``<out>/calls/<seed>-<m>-<pid>`` behind."""
    out = Path(opts["out_dir"])
    key = f"{config['seed']}-{config['optim']['meta']}"
    (out / "calls").mkdir(exist_ok=True)
    (out / "calls" / f"{key}-{os.getpid()}").touch()
    marker = out / f"killed-{key}"
    if key in opts["kill"] and not (opts["once"] and marker.exists()):
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return {"status": "done", "metrics": {"average_accuracy": 0.5}, "wall_time_s": 0.0,
            "pid": os.getpid(), "threads": opts["threads"]}
