"""What ``metabnn run`` prints, as pure functions of a run's config and results.

The runner logs :func:`run_header` and one :func:`experience_line` per experience while it
trains; the command line then prints :func:`outcome_text`. The README's example output is made
by the same functions from a committed results file (:mod:`metabnn.reproduce.readme`), so the
page shows what the command prints.
"""

from __future__ import annotations

from typing import Any

__all__ = ["run_header", "experience_line", "format_matrix", "outcome_text", "console_text"]


def run_header(stamp: str, config: dict[str, Any], meta: Any, device: str,
               boundaries: bool = True) -> str:
    """``run <stamp>: <strategy> on <stream> (<scenario>-incremental), <model> [...], m=..,
    seed .., <device>`` (``meta``: the m the strategy trains with)."""
    stream = config["stream"]
    chunks = "" if boundaries else f", {stream['chunks']} chunks, no boundaries"
    protocol = ""
    if stream.get("head"):  # results of older code have no head or BatchNorm policy
        protocol = f", {stream['head']} head, {stream['batchnorm']} BatchNorm"
    return (f"run {stamp}: {config['strategy']} on {stream['name']} "
            f"({stream['scenario']}-incremental{chunks}{protocol}), {config['model']['name']} "
            f"{list(config['model']['hidden'])}, m={meta}, seed {config['seed']}, {device}")


def experience_line(label: str, accuracies: list[float]) -> str:
    """``after experience 0: 97.57 9.41 16.08`` (accuracies in percent)."""
    return f"after {label}: " + " ".join(f"{100 * a:.2f}" for a in accuracies)


def format_matrix(matrix: list[list[float]]) -> str:
    """The accuracy matrix as a text table, in percent."""
    n = len(matrix[0]) if matrix else 0
    head = "after exp | " + " ".join(f"task {j:<3d}" for j in range(n))
    rows = [
        f"{i:>9d} | " + " ".join(f"{100 * a:7.2f}%"[:8].rjust(8) for a in row)
        for i, row in enumerate(matrix)
    ]
    return "\n".join([head, "-" * len(head), *rows])


def outcome_text(results: dict[str, Any], path: str) -> str:
    """What the command line prints after a run: the matrix, the metrics, the results path."""
    metrics = results["metrics"]
    lines = ["", "accuracy matrix R[i, j] (test accuracy on task j after experience i):",
             format_matrix(results["accuracy_matrix"]), ""]
    wall = f"wall {results['wall_time_s']:.0f}s"
    if "final_accuracy" in metrics:  # stream learning: one test set after every chunk
        lines.append(f"final test accuracy {100 * metrics['final_accuracy']:.2f}%  "
                     f"best {100 * metrics['best_accuracy']:.2f}% (after chunk "
                     f"{metrics['best_chunk']})  {wall}")
    elif metrics["backward_transfer"] is None:  # joint training: one training phase
        lines.append(f"average accuracy {100 * metrics['average_accuracy']:.2f}% (joint: one "
                     f"training phase)  {wall}")
    else:
        lines.append(f"average accuracy {100 * metrics['average_accuracy']:.2f}%  "
                     f"BWT {100 * metrics['backward_transfer']:+.2f}  "
                     f"forgetting {100 * metrics['forgetting']:.2f} (Chaudhry et al. 2018)  "
                     f"{wall}")
    lines.append(f"results: {path}")
    return "\n".join(lines)


def console_text(results: dict[str, Any], path: str) -> str:
    """Everything a fresh ``metabnn run`` prints on standard output (progress bars, which go to
    standard error, aside), rebuilt from its results: header, one line per experience,
    outcome."""
    joint = (results.get("strategy") or {}).get("trains_on") == "stream"
    meta = (results.get("strategy") or {}).get("meta", results["config"]["optim"]["meta"])
    lines = [run_header(results["stamp"], results["config"], meta,
                        results["fingerprint"]["device"], results.get("boundaries", True))]
    for i, row in enumerate(results["accuracy_matrix"]):
        lines.append(experience_line("all experiences" if joint else f"experience {i}", row))
    return "\n".join(lines) + "\n" + outcome_text(results, path)
