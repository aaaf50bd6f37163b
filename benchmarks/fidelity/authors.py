"""The authors' code, prepared to run beside metabnn: a scratch copy with only call-form changes.

The paper's numbers come from Laborieux-Axel/SynapticMetaplasticityBNN (written for PyTorch
1.1.0). Nothing of it is copied into this repository: :func:`prepare` takes the path of a
checkout (pinned commit :data:`PINNED`), copies its continual-learning folder to a scratch
directory and applies there only

* **call forms** a current PyTorch needs or warns about (:data:`CALL_FORMS`): the deprecated
  positional-scalar overloads ``add_(alpha, other)``, ``addcmul_(value, t1, t2)`` and
  ``addcdiv_(value, t1, t2)`` rewritten with keyword scalars — the same kernels, the same
  arithmetic;
* **the data**: ``./mnist_pytorch`` and ``./fmnist_pytorch`` point at the local data root, so
  torchvision finds the files and downloads nothing;
* **one environment switch**, off unless asked (:data:`BN_INIT_PATCH`): with
  ``FIDELITY_BN_INIT=uniform`` in the environment, the BatchNorm weights are redrawn from
  U(0, 1) right after the model is built, which is what PyTorch 1.1.0's ``BatchNorm1d`` did at
  construction and what the paper's runs had (PyTorch >= 1.2 initialises them to 1).

Every change is returned as ``(file, line, before, after)`` and printed by the harness.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

__all__ = ["PINNED", "FOLDER", "CALL_FORMS", "BN_INIT_PATCH", "Change", "prepare",
           "MissingCheckout", "get_instructions"]

PINNED = "53515706870f02756b9d568c4495aaa3d8c3944d"
"""The authors' commit the harness was written against ("Fixing numerical unstability issue",
August 2023: BatchNorm without running statistics)."""

FOLDER = "Continual_Learning_Fig-2abcdefgh-3abcd-5cde"
"""The folder of the authors' repository with the permuted-MNIST experiments (Fig. 2, 3)."""

CALL_FORMS: tuple[tuple[str, str, str], ...] = (
    ("add_", r"1 - beta1|group\['weight_decay'\]", "alpha"),
    ("addcmul_", r"1 - beta2", "value"),
    ("addcdiv_", r"-step_size", "value"),
)
"""(method, its positional scalar first argument, the keyword it moves to): overloads
deprecated since PyTorch 1.5."""

BN_INIT_PATCH = (
    "\nif os.environ.get('FIDELITY_BN_INIT') == 'uniform':  # metabnn fidelity harness: "
    "PyTorch 1.1.0's BatchNorm init\n"
    "    for _m in model.modules():\n"
    "        if isinstance(_m, torch.nn.BatchNorm1d):\n"
    "            torch.nn.init.uniform_(_m.weight)\n"
)

Change = tuple[str, int, str, str]


class MissingCheckout(RuntimeError):
    """The authors' checkout is absent or not the expected repository."""


def get_instructions(path: str | os.PathLike[str]) -> str:
    return (f"no checkout of the authors' code at {path}: get one with `git clone "
            "https://github.com/Laborieux-Axel/SynapticMetaplasticityBNN "
            f"{path} && git -C {path} checkout {PINNED[:12]}`, then pass --authors {path}")


def _rewrite_call(line: str) -> str:
    """``x.add_(a, b)`` -> ``x.add_(b, alpha=a)`` (and the same for ``addcmul_`` and
    ``addcdiv_`` with ``value=``), balancing the parentheses of the remaining arguments."""
    for method, scalar, keyword in CALL_FORMS:
        match = re.search(rf"\.{method}\(({scalar}), ", line)
        if match is None:
            continue
        depth, end = 1, match.end()
        while end < len(line) and depth:
            depth += {"(": 1, ")": -1}.get(line[end], 0)
            end += 1
        args = line[match.end():end - 1]
        line = (f"{line[:match.start()]}.{method}({args}, {keyword}={match.group(1)})"
                f"{line[end:]}")
    return line


def prepare(checkout: str | os.PathLike[str], scratch: str | os.PathLike[str],
            data_root: str | os.PathLike[str]) -> tuple[Path, list[Change], str]:
    """A runnable scratch copy of the authors' folder; returns (folder, changes, commit)."""
    checkout, scratch = Path(checkout), Path(scratch)
    source = checkout / FOLDER
    if not (source / "main.py").exists() or not (source / "models_utils.py").exists():
        raise MissingCheckout(get_instructions(checkout))
    head = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"],
                          capture_output=True, text=True)
    commit = head.stdout.strip() if head.returncode == 0 else "unknown (not a git checkout)"
    folder = scratch / FOLDER
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns("nohup.out", "results"))
    changes: list[Change] = []
    for name in ("models_utils.py", "main.py", "data_utils.py"):
        path = folder / name
        lines = path.read_text().splitlines(keepends=True)
        for i, line in enumerate(lines):
            new = _rewrite_call(line)
            if new != line:
                changes.append((name, i + 1, line.strip(), new.strip()))
                lines[i] = new
        if name == "main.py":
            for i, line in enumerate(lines):
                if line.startswith("print(model)"):
                    lines.insert(i, BN_INIT_PATCH)
                    changes.append((name, i + 1, "(nothing)",
                                    "BatchNorm weights ~ U(0, 1) when FIDELITY_BN_INIT=uniform"))
                    break
            else:
                raise MissingCheckout(f"{path}: no `print(model)` line to hook the BatchNorm "
                                      "init after (another commit than the pinned one?)")
        path.write_text("".join(lines))
    for link in ("mnist_pytorch", "fmnist_pytorch"):
        target = folder / link
        if target.is_symlink() or target.exists():
            target.unlink()
        target.symlink_to(Path(data_root).resolve(), target_is_directory=True)
        changes.append((link, 0, "(downloaded by torchvision)", f"-> {Path(data_root)}"))
    return folder, changes, commit
