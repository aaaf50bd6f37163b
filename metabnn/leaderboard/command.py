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
    regen = sub.add_parser(
        "regenerate", help="run every board's sweeps (skipping runs this code has done), "
        "then add the done runs and build",
        description="Run the sweeps of every board in BOARD/board.yaml into --out (one run "
        "folder and registry; resumable: runs done by this code are skipped, interrupted ones "
        "continue), copy the done runs into BOARD/results/ and rebuild. --plan runs nothing and "
        "says per sweep what is planned, done and left, with the CPU time left estimated from "
        "the board's recorded runs.")
    regen.add_argument("--board", type=Path, default=Path("leaderboards"),
                       help="the board folder (default: leaderboards)")
    regen.add_argument("--out", type=Path, default=Path("runs/leaderboard"),
                       help="run folder and registry of the boards' sweeps "
                       "(default: runs/leaderboard)")
    regen.add_argument("--workers", type=int, default=None,
                       help="runs at a time (default: the usable CPU cores)")
    regen.add_argument("--data-root", default=None,
                       help="dataset folder (default: $METABNN_DATA, else ~/.cache/metabnn/data)")
    regen.add_argument("--device", default="cpu", help="device of every run (default: cpu)")
    regen.add_argument("--plan", action="store_true",
                       help="run nothing: print planned, done and left runs per sweep")
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
    if args.leaderboard_command == "regenerate":
        return _regenerate(args)
    if args.add or args.registry is not None:
        from metabnn.fingerprint import code_fingerprint

        added, refusals = add_runs(args.add, args.board, args.registry,
                                   against=code_fingerprint())
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


def _regenerate(args: argparse.Namespace) -> int:
    from metabnn.config import ConfigError
    from metabnn.leaderboard.regenerate import plan, regenerate
    from metabnn.threads import usable_cpus

    workers = args.workers if args.workers is not None else usable_cpus()
    if workers < 1:
        raise ConfigError(f"--workers {workers} is invalid: must be >= 1")
    if args.plan:
        rows = plan(args.board, args.out, args.device, workers)
        total, unknown = 0.0, 0
        for r in rows:
            est = "?" if r["estimate_s"] is None else f"{r['estimate_s'] / 60:.0f} min"
            print(f"{r['board']:<16} {r['sweep']:<40} planned {r['planned']:>4}  done "
                  f"{r['done']:>4}  left {r['left']:>4}  run time left {est}")
            total += r["estimate_s"] or 0.0
            unknown += r["estimate_s"] is None and r["left"] > 0
        print(f"run time left: {total / 60:.0f} min summed over runs, about "
              f"{total / 60 / workers:.0f} min with {workers} at a time"
              + (f"; {unknown} sweep(s) with no recorded run to estimate from" if unknown else ""))
        return 0
    failed, refused = regenerate(args.board, args.out, workers=workers,
                                 data_root=args.data_root, device=args.device,
                                 log=lambda line: print(line, flush=True))
    for line in refused:
        print(f"not added: {line}", file=sys.stderr)
    print(f"regenerated {args.board}: {failed} failed run(s), {len(refused)} not added")
    return 1 if failed or refused else 0
