"""Statistics over seeds: mean, sample standard deviation, 95 % intervals and claim verdicts.

A run is one sample of a chaotic training process; a claim about a method is a claim about the
distribution of its results over seeds. The intervals (level :data:`LEVEL`):

* one mean (:func:`mean_interval`): Student's t, :math:`\\bar x \\pm t_{n-1}\\, s/\\sqrt n`;
* two independent means (:func:`welch_interval`): Welch's t for :math:`\\bar a - \\bar b`,
  standard error :math:`\\sqrt{s_a^2/n_a + s_b^2/n_b}` and the Welch–Satterthwaite degrees of
  freedom (Welch 1947);
* two quantities of the same runs (:func:`paired_interval`): Student's t on the per-run
  differences.

With fewer than two values on a side there is no interval (``None``). :func:`verdict` turns an
interval into **match** (wholly on the claimed side of a margin, or inside a band), **differs**
(wholly on the wrong side, or outside the band) or **inconclusive** (it straddles, or there is no
interval): a single seed never decides a claim.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats as _scipy

__all__ = ["LEVEL", "Summary", "describe", "mean_interval", "welch_interval",
           "paired_interval", "verdict", "VERDICTS", "format_mean_sd", "format_sd"]

LEVEL = 0.95
"""Coverage of every interval."""

VERDICTS = ("match", "differs", "inconclusive")


@dataclass(frozen=True)
class Summary:
    """Mean, sample standard deviation (``None`` for one value) and count."""

    mean: float
    sd: float | None
    n: int


def describe(values: Sequence[float]) -> Summary | None:
    """The summary of ``values`` (``None`` when empty)."""
    xs = [float(v) for v in values]
    if not xs:
        return None
    mean = math.fsum(xs) / len(xs)
    sd = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 \
        else None
    return Summary(mean, sd, len(xs))


def _t(df: float, level: float) -> float:
    return float(_scipy.t.ppf(0.5 + level / 2, df))


def mean_interval(values: Sequence[float], level: float = LEVEL
                  ) -> tuple[float, float] | None:
    """Student's t interval of the mean of ``values``; ``None`` for fewer than two."""
    s = describe(values)
    if s is None or s.sd is None:
        return None
    half = _t(s.n - 1, level) * s.sd / math.sqrt(s.n)
    return s.mean - half, s.mean + half


def welch_interval(a: Sequence[float], b: Sequence[float], level: float = LEVEL
                   ) -> tuple[float, float] | None:
    """Welch's t interval of ``mean(a) - mean(b)``; ``None`` unless both have two values."""
    sa, sb = describe(a), describe(b)
    if sa is None or sb is None or sa.sd is None or sb.sd is None:
        return None
    va, vb = sa.sd ** 2 / sa.n, sb.sd ** 2 / sb.n
    diff = sa.mean - sb.mean
    se = math.sqrt(va + vb)
    if se == 0.0:
        return diff, diff
    df = (va + vb) ** 2 / (va ** 2 / (sa.n - 1) + vb ** 2 / (sb.n - 1))
    half = _t(df, level) * se
    return diff - half, diff + half


def paired_interval(a: Sequence[float], b: Sequence[float], level: float = LEVEL
                    ) -> tuple[float, float] | None:
    """Student's t interval of the mean of ``a[i] - b[i]`` (the same runs, two quantities)."""
    if len(a) != len(b):
        raise ValueError(f"paired samples of different sizes: {len(a)} and {len(b)}")
    return mean_interval([x - y for x, y in zip(a, b)], level)


def verdict(interval: tuple[float, float] | None, *, margin: float | None = None,
            band: tuple[float, float] | None = None) -> str:
    """``match`` / ``differs`` / ``inconclusive`` for an effect's interval.

    With ``margin`` the claim is *effect >= margin*: match when the whole interval is at or above
    it, differs when the whole interval is below it. With ``band`` the claim is *the value lies
    in [lo, hi]*: match when the interval lies inside, differs when it lies wholly outside.
    """
    if (margin is None) == (band is None):
        raise ValueError("give exactly one of margin and band")
    if interval is None:
        return "inconclusive"
    lo, hi = interval
    if margin is not None:
        if lo >= margin:
            return "match"
        return "differs" if hi < margin else "inconclusive"
    assert band is not None
    if band[0] <= lo and hi <= band[1]:
        return "match"
    return "differs" if hi < band[0] or lo > band[1] else "inconclusive"


def format_sd(sd: float, digits: int = 2) -> str:
    """``sd`` with ``digits`` decimals, except that a positive sd which would round to zero gets
    one significant digit (``0.004``): ``± 0.00`` is kept for seeds that agree exactly."""
    text = f"{sd:.{digits}f}"
    if sd <= 0 or float(text) != 0:
        return text
    return f"{sd:.{-math.floor(math.log10(sd))}f}"  # decimals up to the first significant one


def format_mean_sd(s: Summary | None, scale: float = 1.0, digits: int = 2) -> str:
    """``mean ± sd`` with ``digits`` decimals after multiplying by ``scale`` (a tiny non-zero sd
    to one significant digit, :func:`format_sd`); ``± n/a`` for one value (never ``± 0``); an em
    dash for none."""
    if s is None:
        return "—"
    sd = "n/a" if s.sd is None else format_sd(scale * s.sd, digits)
    return f"{scale * s.mean:.{digits}f} ± {sd}"
