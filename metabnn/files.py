"""Reading back the files metabnn writes, and refusing damaged or hostile ones in one line.

Every file the suite reads back (configs, sweep and recipe files, results files, checkpoints,
the run registry, leaderboard submissions) goes through these helpers, so that a truncated,
empty, binary or foreign file, or a symlink that leads out of its folder, ends in one
:class:`DamagedFileError` naming the file and what to do, never in a traceback, and never
in a file silently rewritten.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = ["DamagedFileError", "refuse_symlink_out", "read_text", "read_json"]


class DamagedFileError(ValueError):
    """A file metabnn reads back is missing, unreadable, damaged or not what it should be (the
    command line reports it like any bad input: one line, exit code 2)."""


def refuse_symlink_out(path: str | os.PathLike[str], what: str) -> Path:
    """``path``, unless it is a symlink whose target lies outside the link's own folder."""
    path = Path(path)
    if path.is_symlink():
        target = path.resolve()
        if not target.is_relative_to(path.parent.resolve()):
            raise DamagedFileError(f"{what} {path} is a symlink to {target}, outside its folder: "
                                   "refused (put the file itself there)")
    return path


def read_text(path: str | os.PathLike[str], what: str) -> str:
    """The text of ``path`` (UTF-8); one-line errors for missing, unreadable, empty (a file of
    nothing but whitespace, which metabnn never writes) or binary files."""
    path = refuse_symlink_out(path, what)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DamagedFileError(f"{what} {path}: {err.strerror or err}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise DamagedFileError(f"{what} {path} is not a text file (binary or damaged): "
                               "point at the right file, or restore it") from None
    if not text.strip():
        raise DamagedFileError(f"{what} {path} is empty (truncated?): restore it, or point at "
                               "the right file")
    return text


def read_json(path: str | os.PathLike[str], what: str) -> Any:
    """The JSON value of ``path``; an empty, truncated or non-JSON file is refused."""
    text = read_text(path, what)
    try:
        return json.loads(text)
    except ValueError as err:
        raise DamagedFileError(f"{what} {path} is not valid JSON ({err.msg} at line "
                               f"{err.lineno}; truncated or damaged?): restore it or move it "
                               "aside") from None
