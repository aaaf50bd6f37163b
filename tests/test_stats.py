"""Intervals over seeds and verdicts: golden values worked out by hand, checked against SciPy's
own t tests, and the verdict rule at its boundaries."""

from __future__ import annotations

import math

import pytest
from scipy import stats as scipy_stats

from metabnn.stats import (
    describe,
    format_mean_sd,
    format_sd,
    mean_interval,
    paired_interval,
    verdict,
    welch_interval,
)


def test_describe_is_mean_and_sample_sd():
    s = describe([1.0, 2.0, 3.0, 4.0])
    assert s.mean == 2.5 and s.sd == pytest.approx(math.sqrt(5 / 3)) and s.n == 4
    assert describe([7.0]).sd is None and describe([]) is None


def test_welch_interval_by_hand():
    # a = 1, 2, 3; b = 4, 5, 6: difference -3, both sd 1, se = sqrt(1/3 + 1/3) = 0.81650,
    # Welch-Satterthwaite df = (2/3)^2 / (2 * (1/3)^2 / 2) = 4, t(0.975, 4) = 2.776445
    lo, hi = welch_interval([1, 2, 3], [4, 5, 6])
    half = 2.776445 * math.sqrt(2 / 3)
    assert (lo, hi) == pytest.approx((-3 - half, -3 + half), abs=1e-5)
    assert (lo, hi) == pytest.approx((-5.266958, -0.733042), abs=1e-5)


def test_welch_interval_equals_scipys_on_unequal_samples():
    a, b = [0.81, 0.84, 0.79, 0.88, 0.80], [0.70, 0.75, 0.61]
    ref = scipy_stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert welch_interval(a, b) == pytest.approx((ref.low, ref.high), rel=1e-12)


def test_mean_and_paired_intervals_equal_scipys():
    xs = [0.91, 0.95, 0.90, 0.97]
    ref = scipy_stats.ttest_1samp(xs, 0.0).confidence_interval(0.95)
    assert mean_interval(xs) == pytest.approx((ref.low, ref.high), rel=1e-12)
    ys = [0.5, 0.6, 0.4, 0.55]
    ref = scipy_stats.ttest_rel(xs, ys).confidence_interval(0.95)
    assert paired_interval(xs, ys) == pytest.approx((ref.low, ref.high), rel=1e-12)


def test_no_interval_from_one_value():
    assert mean_interval([0.9]) is None
    assert welch_interval([0.9], [0.1, 0.2]) is None
    assert verdict(None, margin=0.0) == "inconclusive"


@pytest.mark.parametrize(("interval", "margin", "expected"), [
    ((0.05, 0.2), 0.05, "match"),        # at the margin: the claim ">= margin" holds
    ((0.049, 0.2), 0.05, "inconclusive"),
    ((-0.3, 0.049), 0.05, "differs"),
    ((-0.02, -0.001), -0.01, "inconclusive"),  # "<= 1 point lost", the interval straddles -1
    ((-0.009, 0.01), -0.01, "match"),
])
def test_verdict_against_a_margin(interval, margin, expected):
    assert verdict(interval, margin=margin) == expected


@pytest.mark.parametrize(("interval", "expected"), [
    ((0.86, 0.99), "match"), ((0.84, 0.99), "inconclusive"), ((0.5, 0.84), "differs"),
    ((1.01, 1.2), "differs"),
])
def test_verdict_against_a_band(interval, expected):
    assert verdict(interval, band=(0.85, 1.0)) == expected


def test_format_never_prints_plus_minus_zero_for_one_seed():
    assert format_mean_sd(describe([0.8026]), 100) == "80.26 ± n/a"
    assert format_mean_sd(describe([0.8, 0.8]), 100) == "80.00 ± 0.00"  # two equal seeds
    assert format_mean_sd(None) == "—"


def test_a_tiny_sd_keeps_one_significant_digit_and_an_exact_zero_stays_zero():
    # Three seeds of cumulative (BNN) on the pmnist boards: 93.437, 93.430, 93.430 %; by hand the
    # sample sd is sqrt((0.00467² + 2 · 0.00233²) / 2) = 0.0040 points, which "0.00" would hide.
    assert format_mean_sd(describe([0.93437, 0.93430, 0.93430]), 100) == "93.43 ± 0.004"
    assert format_sd(0.0) == "0.00"
    assert format_sd(0.00096) == "0.0010"  # rounds up to the next decade: still not zero
    assert format_sd(0.014) == "0.01"  # two decimals already show it
