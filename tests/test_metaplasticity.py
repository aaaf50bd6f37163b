import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from metabnn.metaplasticity import (
    consolidation_mask,
    f_meta,
    metaplastic_scale,
    scale_toward_zero_,
)

# no subnormal floats: runs flush them to zero (metabnn.numerics), and so does the test suite
weights = st.floats(min_value=-20, max_value=20, allow_nan=False, allow_subnormal=False)
metas = st.floats(min_value=0, max_value=10, allow_nan=False, allow_subnormal=False)


def test_golden_values_from_the_paper_rule():
    # 1 - tanh^2(1.35 * 0.5) and 1 - tanh^2(1.35 * 1.0), computed by hand to 4 decimals
    assert abs(f_meta(torch.tensor(0.5, dtype=torch.float64), 1.35).item() - 0.6540) < 1e-4
    assert abs(f_meta(torch.tensor(1.0, dtype=torch.float64), 1.35).item() - 0.2360) < 1e-4
    assert abs(f_meta(torch.tensor(-1.0, dtype=torch.float64), 1.35).item() - 0.2360) < 1e-4


@settings(max_examples=200, deadline=None)
@given(weights, metas)
def test_f_meta_in_unit_interval(w, m):
    value = f_meta(torch.tensor(w, dtype=torch.float64), m).item()
    assert 0.0 <= value <= 1.0
    if m * abs(w) < 15:  # beyond that tanh^2 rounds to 1 in float64
        assert value > 0.0


@settings(max_examples=200, deadline=None)
@given(weights, weights, metas)
def test_f_meta_decreasing_in_abs_w(w1, w2, m):
    lo, hi = sorted([abs(w1), abs(w2)])
    f = lambda w: f_meta(torch.tensor(w, dtype=torch.float64), m).item()  # noqa: E731
    assert f(hi) <= f(lo) + 1e-15


@settings(max_examples=200, deadline=None)
@given(weights, metas, metas)
def test_f_meta_decreasing_in_m(w, m1, m2):
    lo, hi = sorted([m1, m2])
    f = lambda m: f_meta(torch.tensor(w, dtype=torch.float64), m).item()  # noqa: E731
    assert f(hi) <= f(lo) + 1e-15


@given(metas)
def test_f_meta_is_one_at_zero_and_for_m_zero(m):
    assert f_meta(torch.tensor(0.0), m).item() == 1.0
    assert torch.all(f_meta(torch.linspace(-5, 5, 11), 0.0) == 1.0)


def test_mask_is_true_only_for_steps_toward_zero():
    w = torch.tensor([0.5, 0.5, -0.5, -0.5, 0.0])
    m = torch.tensor([1.0, -1.0, 1.0, -1.0, 1.0])  # the step is -m
    assert consolidation_mask(w, m).tolist() == [True, False, False, True, False]


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**31 - 1), metas)
def test_fast_path_equals_reference(seed, m):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(257, generator=g, dtype=torch.float64) * 2
    exp_avg = torch.randn(257, generator=g, dtype=torch.float64)
    expected = exp_avg * metaplastic_scale(w, exp_avg, m)
    assert torch.allclose(scale_toward_zero_(exp_avg, w, m), expected, rtol=1e-12, atol=1e-15)


def test_fast_path_golden():
    w = torch.tensor([0.5, -0.5], dtype=torch.float64)
    exp_avg = torch.tensor([1.0, 1.0], dtype=torch.float64)
    out = scale_toward_zero_(exp_avg, w, 1.35)
    assert math.isclose(out[0].item(), 1 - math.tanh(0.675) ** 2, rel_tol=1e-12)
    assert out[1].item() == 1.0
