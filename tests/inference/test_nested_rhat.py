"""Nested R-hat (Margossian et al. 2023) and R-hat from running moments, checked against
their definitions on small hand-built examples."""

import numpy as np
import pytest

from inference import moments_of, nested_rhat, nested_rhat_from_moments, rhat_from_moments

# Two superchains of two chains, three draws each.
#   superchain 0: chain means 2, 4 (variances 1, 4)
#   superchain 1: chain means 1, 6 (variances 3, 7)
DRAWS = np.array(
    [
        [1.0, 2.0, 3.0],
        [2.0, 4.0, 6.0],
        [0.0, 0.0, 3.0],
        [4.0, 5.0, 9.0],
    ]
)


def test_nested_rhat_by_hand():
    # Superchain means 3 and 3.5: B_nu = var([3, 3.5], ddof=1) = 0.125.
    # Within superchain k: between-chain variance var(means, ddof=1) = 2 and 12.5, mean
    # within-chain variance 2.5 and 5; W_nu = mean(2 + 2.5, 12.5 + 5) = 11.
    expected = np.sqrt(1.0 + 0.125 / 11.0)
    got = nested_rhat(DRAWS, num_superchains=2)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    m = moments_of(DRAWS)
    np.testing.assert_allclose(
        nested_rhat_from_moments(m.count, m.mean, m.variance, 2), expected, rtol=1e-12
    )


def test_nested_rhat_with_one_draw_per_chain_has_no_within_chain_term():
    x = DRAWS[:, :1]  # draws 1, 2, 0, 4
    # B_nu = var([1.5, 2.0], ddof=1) = 0.125; W_nu = mean(var([1, 2]), var([0, 4])) = 4.25.
    np.testing.assert_allclose(nested_rhat(x, 2), np.sqrt(1.0 + 0.125 / 4.25), rtol=1e-12)


def _classic_rhat(x):
    """BDA3's R-hat (no split) of (chains, draws), written out."""
    m, n = x.shape
    means = x.mean(axis=1)
    b = n * np.sum((means - means.mean()) ** 2) / (m - 1)
    w = np.mean(np.sum((x - means[:, None]) ** 2, axis=1) / (n - 1))
    return np.sqrt(((n - 1) / n * w + b / n) / w)


def test_rhat_from_moments_is_the_classic_rhat():
    x = np.random.default_rng(0).normal(size=(5, 40)) + np.arange(5)[:, None] * 0.3
    m = moments_of(x)
    np.testing.assert_allclose(
        rhat_from_moments(m.count, m.mean, m.variance), _classic_rhat(x), rtol=1e-6
    )


def test_nested_rhat_with_one_chain_per_superchain_is_classic_rhat_plus_one_over_n():
    # With M = 1: nR^2 = 1 + B/N / W and R^2 = (N-1)/N + B/N / W, so nR^2 = R^2 + 1/N.
    x = np.random.default_rng(1).normal(size=(6, 30))
    np.testing.assert_allclose(nested_rhat(x, 6) ** 2, _classic_rhat(x) ** 2 + 1.0 / 30, rtol=1e-10)


def test_nested_rhat_vectorised_over_params_and_bad_superchains():
    x = np.random.default_rng(2).normal(size=(8, 20, 3))
    out = nested_rhat(x, 4)
    assert out.shape == (3,)
    for k in range(3):
        np.testing.assert_allclose(out[k], nested_rhat(x[..., k], 4))
    with pytest.raises(ValueError, match="divides the number of chains"):
        nested_rhat(x, 3)
