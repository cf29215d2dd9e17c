"""Subsampling draws only the subsample, uniformly without replacement (Floyd's algorithm)."""

import jax
import numpy as np
from scipy import stats

from effects._messages import subsample_indices


def test_a_huge_plate_draws_distinct_indices_in_range():
    idx = np.asarray(subsample_indices(jax.random.key(0), 10_000_000, 100))
    assert idx.shape == (100,) and len(set(idx.tolist())) == 100
    assert idx.min() >= 0 and idx.max() < 10_000_000


def test_every_subset_and_order_is_equally_likely():
    # n = 4, m = 2: 12 ordered pairs, each with probability 1/12. Chi-square test with a
    # false-alarm rate of 1e-3.
    keys = jax.random.split(jax.random.key(1), 6000)
    draws = np.asarray(jax.vmap(lambda k: subsample_indices(k, 4, 2))(keys))
    assert np.all(draws[:, 0] != draws[:, 1])
    codes = draws[:, 0] * 4 + draws[:, 1]
    counts = np.array([np.sum(codes == a * 4 + b) for a in range(4) for b in range(4) if a != b])
    assert counts.sum() == 6000
    assert stats.chisquare(counts).pvalue > 1e-3
