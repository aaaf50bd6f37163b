"""``metabnn leaderboard build`` and ``metabnn leaderboard check``: arguments and entry point."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``leaderboard`` subcommand's own subcommands, on ``parser``."""
    sub = parser.add_subparsers(dest="leaderboard_command", required=True,
                                parser_class=type(parser))
    build = sub.add_parser(
        "build", help="check the board's runs and write its CSVs, README.md and index.html",
        description="Check every BOARD/results/*.json and write BOARD/<stream>-<scenario>.csv, "
        "BOARD/README.md and BOARD/index.html; the same runs give byte-identical files. "
        "--add and --registry first copy checked results files into BOARD/results/.")
    build.add_argument("--board", type=Path, default=Path("leaderboards"),
                       help="the board folder: board.yaml, results/ (default: leaderboards)")
    build.add_argument("--out", type=Path, default=None,
                       help="write the generated files here instead (default: the board folder)")
    build.add_argument("--add", nargs="+", default=[], metavar="PATH",
                       help="results files, or run folders searched for **/results.json, to "
                       "check and copy into BOARD/results/ before building")
    build.add_argument("--registry", type=Path, default=None,
                       help="a run registry (SQLite) whose done runs' results files are checked "
                       "and copied into BOARD/results/ before building")
    check = sub.add_parser(
        "check", help="validate results files before they enter a board",
        description="Check results files: schema, types and ranges, the metrics recomputed "
        "from the accuracy matrix, the config stamp, provenance, and that this checkout's code "
        "made it (the code fingerprint's sources and library versions). Reads JSON only; never "
        "unpickles. Exit 2 if any file is refused.")
    check.add_argument("files", nargs="+", type=Path, metavar="FILE", help="results files")
    check.add_argument("--board", type=Path, default=None, metavar="FOLDER",
                       help="also check that each file fits one of this board folder's boards "
                       "(planned by its sweeps, or the same protocol as its runs: stream, "
                       "training budget, network size); e.g. leaderboards")


def main(args: argparse.Namespace) -> int:
    from metabnn.leaderboard.build import add_runs, board_of, build
    from metabnn.leaderboard.check import CheckError, check_file

    if args.leaderboard_command == "check":
        from metabnn.fingerprint import code_fingerprint

        current = code_fingerprint()
        refused = 0
        for path in args.files:
            try:
                results = check_file(path, against=current)
                where = ""
                if args.board is not None:
                    try:
                        bid = board_of(results, args.board)
                    except CheckError as err:
                        raise CheckError(f"{path}: {err}") from None
                    where = f" (board {bid})" if bid else ""
                print(f"accepted {path}{where}")
            except CheckError as err:
                refused += 1
                print(f"refused {err}", file=sys.stderr)
        print(f"{len(args.files) - refused} accepted, {refused} refused")
        return 2 if refused else 0
    if args.add or args.registry is not None:
        added, refusals = add_runs(args.add, args.board, args.registry)
        for line in refusals:
            print(f"not added: {line}", file=sys.stderr)
        print(f"added {len(added)} results files to {args.board / 'results'}"
              + (f", refused {len(refusals)}" if refusals else ""))
    try:
        written = build(args.board, args.out)
    except CheckError as err:
        print(f"metabnn: error: the board has refused runs:\n{err}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}")
    return 0
