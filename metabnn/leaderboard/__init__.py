"""Leaderboards generated from recorded runs: a row schema, the submission check, the build.

Application layer (like :mod:`metabnn.runner`): nothing in the core imports it. See
:mod:`metabnn.leaderboard.build` for the board folder's layout and ``metabnn leaderboard
{build,check}`` for the commands.
"""

from metabnn.leaderboard.build import Board, Coverage, add_runs, build, csv_text, load_board
from metabnn.leaderboard.check import CheckError, check_file, check_results
from metabnn.leaderboard.schema import MIN_SEEDS, Provenance, Row, Stat, group_key, make_rows

__all__ = ["Board", "Coverage", "add_runs", "build", "csv_text", "load_board", "CheckError",
           "check_file", "check_results", "MIN_SEEDS", "Provenance", "Row", "Stat", "group_key",
           "make_rows"]
