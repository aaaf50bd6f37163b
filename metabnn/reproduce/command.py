"""``metabnn reproduce``: the subcommand's options and entry point."""

from __future__ import annotations

import argparse

from metabnn.config import ConfigError
from metabnn.reproduce.recipe import SCALES, load_recipe, recipe_names, resolve

__all__ = ["add_arguments", "main", "listing"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The subcommand's options, with their defaults."""
    parser.add_argument("name", nargs="?", metavar="NAME",
                        help="recipe name (`metabnn reproduce --list`)")
    parser.add_argument("--list", action="store_true",
                        help="list the recipes with their protocols at each scale")
    parser.add_argument("--scale", default="quick", choices=SCALES,
                        help="quick: shrunk to finish on a 2-core CPU in <= 20 min; full: the "
                        "paper's protocol (meant for a GPU); smoke: the tests' tiny scale "
                        "(default: quick)")
    parser.add_argument("--seeds", type=int, default=None,
                        help="run seeds 0..N-1 (default: the recipe's, one seed)")
    parser.add_argument("--workers", type=int, default=None,
                        help="runs at a time (default: CPU cores, at most the number of runs)")
    parser.add_argument("--data-root", default=None,
                        help="dataset folder (default: $METABNN_DATA, else ~/.cache/metabnn/data)")
    parser.add_argument("--device", default="cpu", help="device of every run (default: cpu)")
    parser.add_argument("--out", default="runs",
                        help="folder for the runs, their registry and "
                        "reproductions/<name>-<scale>/ (default: runs)")
    parser.add_argument("--force", action="store_true",
                        help="rerun runs the registry already has as done")
    parser.add_argument("--record", action="store_true",
                        help="copy the result into docs/reproductions/ and regenerate "
                        "docs/reproductions.md")
    parser.add_argument("--docs", action="store_true",
                        help="only regenerate docs/reproductions.md from docs/reproductions/")


def listing() -> list[str]:
    """Each recipe: name, title, paper, and its protocol at the quick and full scales."""
    from metabnn.reproduce.run import run_count

    lines = []
    for name in recipe_names():
        recipe = load_recipe(name)
        lines.append(f"{name}  —  {recipe.title}")
        lines.append(f"    paper: {recipe.paper}")
        for scale in ("quick", "full"):
            plan = resolve(recipe, scale)
            size = (f"{2 * len(plan.seeds)} trainings" if recipe.kind == "ber"
                    else f"{run_count(plan)} runs")
            lines.append(f"    {scale:<5} ({size}): {recipe.protocol_of(scale)}")
    return lines


def main(args: argparse.Namespace) -> int:
    """Run the subcommand; 0 on success (a claim that differs is reported, not an error)."""
    from metabnn.reproduce.docs import write_docs

    if args.list:
        print("\n".join(listing()))
        return 0
    if args.docs:
        print(f"wrote {write_docs()}")
        return 0
    if not args.name:
        raise ConfigError("reproduce needs a recipe NAME (`metabnn reproduce --list`)")
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers {args.workers} is invalid: must be >= 1")
    from metabnn.reproduce.run import record, reproduce
    from metabnn.runner import check_data_root

    recipe = load_recipe(args.name)
    resolve(recipe, args.scale, seeds=args.seeds)  # bad input refused before any work
    check_data_root(args.data_root)
    summary = reproduce(args.name, scale=args.scale, seeds=args.seeds, out=args.out,
                        data_root=args.data_root, device=args.device, workers=args.workers,
                        force=args.force)
    if args.record:
        target = record(summary["folder"])
        print(f"recorded in {target}; wrote {write_docs()}")
    return 0
