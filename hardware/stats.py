"""Binomial confidence intervals for measured error rates.

Wilson score interval (Wilson 1927) for :math:`k` errors in :math:`n` writes at :math:`z`
standard deviations:

.. math::
    \\frac{\\hat p + \\frac{z^2}{2n}}{1 + \\frac{z^2}{n}} \\pm
    \\frac{z}{1 + \\frac{z^2}{n}} \\sqrt{\\frac{\\hat p (1 - \\hat p)}{n} + \\frac{z^2}{4n^2}},
    \\qquad \\hat p = k / n .

Unlike the normal approximation it stays inside [0, 1] and is honest when :math:`k` is 0 or
small, which is where device error rates live.
"""

from __future__ import annotations

import math

__all__ = ["wilson_interval"]


def wilson_interval(k: int, n: int, z: float = 4.0) -> tuple[float, float]:
    """(low, high) Wilson interval for ``k`` errors in ``n`` trials."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)
