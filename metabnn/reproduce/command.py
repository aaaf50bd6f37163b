"""``metabnn reproduce``: the subcommand's options and entry point."""

from __future__ import annotations

import argparse

from metabnn.config import ConfigError
from metabnn.reproduce.recipe import SCALES, load_recipe, recipe_names, resolve
from metabnn.reproduce.run import DEFAULT_SEEDS

__all__ = ["add_arguments", "main", "listing"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The subcommand's options, with their defaults."""
    parser.add_argument("name", nargs="?", metavar="NAME",
                        help="recipe name (`metabnn reproduce --list`)")
    parser.add_argument("--list", action="store_true",
                        help="list the recipes with their protocols at each scale")
    parser.add_argument("--scale", default="quick", choices=SCALES,
                        help="quick: shrunk for a 2-core CPU (docs/reproductions.md gives each "
                        "recipe's measured time); full: the paper's protocol (meant for a GPU); "
                        "smoke: the tests' tiny scale (default: quick)")
    parser.add_argument("--seeds", type=int, default=None,
                        help=f"run seeds 0..N-1 of every point (default: {DEFAULT_SEEDS}; a "
                        "claim is judged on an interval over seeds)")
    parser.add_argument("--workers", type=int, default=None,
                        help="runs at a time (default: CPU cores, at most the number of runs)")
    parser.add_argument("--data-root", default=None,
                        help="dataset folder (default: $METABNN_DATA, else ~/.cache/metabnn/data)")
    parser.add_argument("--device", default="auto",
                        help="device of every run: auto (CUDA when available), cpu, cuda or "
                        "cuda:N; --scale full on a CPU needs an explicit --device cpu "
                        "(default: auto)")
    parser.add_argument("--batched-seeds", default=None,
                        action=argparse.BooleanOptionalAction,
                        help="train a point's seeds as one batched model where the strategy "
                        "allows (meta on bnn, no hardware) (default: on a GPU only; on a CPU "
                        "separate runs side by side use the cores as well)")
    parser.add_argument("--allow-stale", action="store_true",
                        help="reuse runs done by other code (another code fingerprint) instead "
                        "of rerunning them; the report marks them STALE and --record refuses "
                        "them (default: rerun them)")
    parser.add_argument("--out", default="runs",
                        help="folder for the runs, their registry and "
                        "reproductions/<name>-<scale>/ (default: runs)")
    parser.add_argument("--force", action="store_true",
                        help="rerun runs the registry already has as done")
    parser.add_argument("--record", action="store_true",
                        help="copy the result into docs/reproductions/ and regenerate "
                        "docs/reproductions.md")
    parser.add_argument("--docs", action="store_true",
                        help="only regenerate docs/reproductions.md from docs/reproductions/ "
                        "and the README's example output from docs/examples/")


def listing() -> list[str]:
    """Each recipe: name, title, paper, and its protocol at the quick and full scales."""
    from metabnn.reproduce.run import run_count

    lines = []
    for name in recipe_names():
        recipe = load_recipe(name)
        lines.append(f"{name}  —  {recipe.title}")
        lines.append(f"    paper: {recipe.paper}")
        for scale in ("quick", "full"):
            plan = resolve(recipe, scale, seeds=DEFAULT_SEEDS)
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
        _readme_example()
        return 0
    if not args.name:
        raise ConfigError("reproduce needs a recipe NAME (`metabnn reproduce --list`)")
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers {args.workers} is invalid: must be >= 1")
    from metabnn.reproduce.run import record, reproduce
    from metabnn.runner import check_data_root, resolve_device

    recipe = load_recipe(args.name)
    plan = resolve(recipe, args.scale, seeds=args.seeds)  # bad input refused before any work
    check_data_root(args.data_root)
    if (args.scale == "full" and resolve_device(args.device).type == "cpu"
            and args.device != "cpu"):
        from metabnn.reproduce.estimate import estimate

        seconds, how = estimate(plan, data_root=args.data_root)
        raise ConfigError(
            f"--scale full of {args.name} is the paper's protocol, meant for a GPU, and no GPU "
            f"is available: on this CPU it would take about {seconds / 3600:.1f} h of training "
            f"({how}); pass --device cpu to run it here anyway")
    summary = reproduce(args.name, scale=args.scale, seeds=args.seeds, out=args.out,
                        data_root=args.data_root, device=args.device, workers=args.workers,
                        force=args.force, allow_stale=args.allow_stale,
                        batched_seeds=args.batched_seeds)
    if args.record:
        target = record(summary["folder"])
        print(f"recorded in {target}; wrote {write_docs()}")
    return 0


def _readme_example() -> None:
    """Regenerate the README's example output where this is the repository root."""
    from pathlib import Path

    from metabnn.reproduce.readme import MAIN_JOB, update_readme

    if Path("README.md").exists() and MAIN_JOB.exists():
        changed = update_readme("README.md", "docs")
        print(f"{'rewrote' if changed else 'kept'} the example output in README.md")
