"""Many-chain samplers: random-walk Metropolis and ChEES-HMC against known targets, and
streaming draws (running moments instead of stored draws).

Targets: the 4-component 1-D Gaussian mixture of issue 17 (mean and variance analytic) and
a correlated 3-D Gaussian. With many independent chains, the chain means are independent,
so the Monte Carlo standard error of their average is their standard deviation over
``sqrt(chains)``; the variance is checked the same way, from each chain's mean squared
deviation from the known mean. Bounds are 4 standard errors, at fixed seeds.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from inference import (
    MCMC,
    ChEES,
    RandomWalk,
    combine_moments,
    halton,
    moments_of,
    nested_rhat_from_moments,
    rhat_from_moments,
)

LOCS = np.array([-2.0, 0.0, 3.2, 2.5])
SCALES = np.array([1.2, 1.0, 5.0, 2.8])
WEIGHTS = np.array([0.2, 0.3, 0.1, 0.4])
MIX_MEAN = float(np.sum(WEIGHTS * LOCS))
MIX_VAR = float(np.sum(WEIGHTS * (SCALES**2 + LOCS**2)) - MIX_MEAN**2)


def mixture_potential(p):
    x = p["x"]
    z = (x - jnp.asarray(LOCS, x.dtype)) / jnp.asarray(SCALES, x.dtype)
    log_terms = jnp.log(jnp.asarray(WEIGHTS / SCALES, x.dtype)) - 0.5 * z**2
    return -jax.scipy.special.logsumexp(log_terms)


COV = np.array([[1.0, 0.8, 0.2], [0.8, 2.0, -0.5], [0.2, -0.5, 0.7]]) * np.outer(
    [1.0, 3.0, 0.3], [1.0, 3.0, 0.3]
)
MU = np.array([1.0, -2.0, 0.5])


def gaussian_potential(p):
    d = p["z"] - jnp.asarray(MU, p["z"].dtype)
    return 0.5 * d @ jnp.asarray(np.linalg.inv(COV), d.dtype) @ d


def _check(draws, mean, var, n_se=4.0):
    """``draws``: (chains, draws, *event). Mean and variance within ``n_se`` standard
    errors over the (independent) chains."""
    x = np.asarray(draws, np.float64)
    chains = x.shape[0]
    chain_means = x.mean(axis=1)
    se = chain_means.std(axis=0, ddof=1) / np.sqrt(chains)
    assert np.all(np.abs(chain_means.mean(axis=0) - mean) < n_se * se), (
        chain_means.mean(axis=0),
        mean,
        se,
    )
    sq = ((x - mean) ** 2).mean(axis=1)  # each chain's mean squared deviation
    se_var = sq.std(axis=0, ddof=1) / np.sqrt(chains)
    assert np.all(np.abs(sq.mean(axis=0) - var) < n_se * se_var), (sq.mean(axis=0), var, se_var)


@pytest.mark.parametrize("ensemble", [False, True])
def test_random_walk_matches_the_mixture(ensemble):
    chains = 128
    mcmc = MCMC(
        RandomWalk(potential_fn=mixture_potential, ensemble=ensemble),
        num_warmup=300,
        num_samples=1000,
        num_chains=chains,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(jax.random.key(0), init_params={"x": jnp.zeros((chains,))})
    _check(mcmc.get_samples(group_by_chain=True)["x"], MIX_MEAN, MIX_VAR)
    # Tuned towards the 1-D optimum, 0.44.
    accept = float(mcmc.get_extra_fields()["accept_prob"].mean())
    assert 0.38 < accept < 0.5


def test_random_walk_matches_a_correlated_gaussian():
    chains = 128
    mcmc = MCMC(
        RandomWalk(potential_fn=gaussian_potential, ensemble=True),
        num_warmup=300,
        num_samples=1000,
        num_chains=chains,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(jax.random.key(1), init_params={"z": jnp.zeros((chains, 3))})
    _check(mcmc.get_samples(group_by_chain=True)["z"], MU, np.diag(COV))
    accept = float(mcmc.get_extra_fields()["accept_prob"].mean())
    assert 0.15 < accept < 0.35  # tuned towards 0.234
    # The ensemble's scale is each coordinate's spread over the chains.
    scale = np.asarray(mcmc.last_state.adapt.scale[0])
    np.testing.assert_allclose(scale, np.sqrt(np.diag(COV)), rtol=0.3)


def test_random_walk_with_a_given_step_size_does_not_adapt():
    mcmc = MCMC(
        RandomWalk(potential_fn=mixture_potential, step_size=3.0, adapt_step_size=False),
        num_warmup=50,
        num_samples=10,
        num_chains=2,
        progress_bar=False,
    )
    mcmc.run(jax.random.key(0), init_params={"x": jnp.zeros((2,))})
    np.testing.assert_allclose(np.exp(np.asarray(mcmc.last_state.adapt.log_step_size)), 3.0)


def test_chees_matches_a_correlated_gaussian():
    chains = 128
    mcmc = MCMC(
        ChEES(potential_fn=gaussian_potential),
        num_warmup=300,
        num_samples=300,
        num_chains=chains,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(jax.random.key(2), init_params={"z": jnp.zeros((chains, 3))})
    _check(mcmc.get_samples(group_by_chain=True)["z"], MU, np.diag(COV))
    extra = mcmc.get_extra_fields()
    assert not bool(extra["diverging"].any())
    # The trajectory is jittered (Halton points of one length), the same for every chain.
    lengths = np.asarray(mcmc.get_extra_fields(group_by_chain=True)["trajectory_length"])
    assert len(np.unique(lengths[0])) > 1
    np.testing.assert_array_equal(lengths[0], lengths[1])
    adapt = mcmc.last_state.adapt
    # A diagonal mass matrix near the variances, and a length that is neither one step
    # nor the cap.
    np.testing.assert_allclose(np.asarray(adapt.inverse_mass_matrix[0]), np.diag(COV), rtol=0.5)
    steps = float(extra["num_steps"].mean())
    assert 2 < steps < 500


def test_chees_matches_the_mixture():
    chains = 128
    mcmc = MCMC(
        ChEES(potential_fn=mixture_potential),
        num_warmup=300,
        num_samples=400,
        num_chains=chains,
        chain_method="vectorized",
        progress_bar=False,
    )
    init = jnp.linspace(-4.0, 6.0, chains)
    mcmc.run(jax.random.key(3), init_params={"x": init})
    _check(mcmc.get_samples(group_by_chain=True)["x"], MIX_MEAN, MIX_VAR)


def test_ensemble_adaptation_needs_vectorized_chains():
    mcmc = MCMC(
        ChEES(potential_fn=gaussian_potential),
        num_warmup=10,
        num_samples=10,
        num_chains=4,
        progress_bar=False,
    )
    with pytest.raises(ValueError, match="chain_method='vectorized'"):
        mcmc.run(jax.random.key(0), init_params={"z": jnp.zeros((4, 3))})


def test_halton_points():
    got = [float(halton(jnp.int32(i))) for i in range(7)]
    assert got == [0.5, 0.25, 0.75, 0.125, 0.625, 0.375, 0.875]


# --- streaming ---------------------------------------------------------------------------------


def test_streaming_keeps_the_moments_of_the_draws_it_would_store():
    kw = dict(
        num_warmup=100,
        num_samples=400,
        num_chains=8,
        thinning=2,
        chain_method="vectorized",
        progress_bar=False,
    )
    stored = MCMC(RandomWalk(potential_fn=gaussian_potential), **kw)
    stored.run(jax.random.key(4), init_params={"z": jnp.zeros((8, 3))})
    streamed = MCMC(RandomWalk(potential_fn=gaussian_potential), streaming=True, **kw)
    streamed.run(jax.random.key(4), init_params={"z": jnp.zeros((8, 3))})

    expected = moments_of(stored.get_samples(group_by_chain=True)["z"])
    got = streamed.get_moments(group_by_chain=True)["z"]
    np.testing.assert_array_equal(got.count, 200)
    np.testing.assert_allclose(got.mean, expected.mean, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(got.variance, expected.variance, rtol=1e-6)
    pooled = streamed.get_moments()["z"]
    all_draws = np.asarray(stored.get_samples()["z"])
    np.testing.assert_allclose(pooled.mean, all_draws.mean(0), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(pooled.variance, all_draws.var(0, ddof=1), rtol=1e-6)
    with pytest.raises(RuntimeError, match="streaming=True"):
        streamed.get_samples()


def test_streaming_memory_does_not_grow_with_the_number_of_draws(capsys):
    # The compiled loop carries a fixed-size state: 10x the draws, the same buffers.
    runs = []
    for n in (1000, 10_000):
        mcmc = MCMC(
            RandomWalk(potential_fn=mixture_potential),
            num_warmup=100,
            num_samples=n,
            num_chains=64,
            chain_method="vectorized",
            progress_bar=False,
            streaming=True,
        )
        mcmc.run(jax.random.key(5), init_params={"x": jnp.zeros((64,))})
        runs.append(mcmc)
    shapes = [jax.tree.map(jnp.shape, m.get_moments(group_by_chain=True)) for m in runs]
    assert shapes[0] == shapes[1]
    m = runs[1].get_moments(group_by_chain=True)["x"]
    pooled = combine_moments(m)
    se = float(np.std(np.asarray(m.mean), ddof=1) / np.sqrt(64))
    assert abs(float(pooled.mean) - MIX_MEAN) < 4 * se
    r = rhat_from_moments(m.count, m.mean, m.variance)
    assert float(r) < 1.01
    assert float(nested_rhat_from_moments(m.count, m.mean, m.variance, 8)) < 1.05
    runs[1].print_summary()
    assert "r_hat" in capsys.readouterr().out


def test_streaming_a_model_keeps_constrained_values():
    import dists as D
    from effects import sample

    def model():
        sample("s", D.LogNormal(0.0, 0.5))

    mcmc = MCMC(
        RandomWalk(model),
        num_warmup=200,
        num_samples=2000,
        num_chains=32,
        chain_method="vectorized",
        progress_bar=False,
        streaming=True,
    )
    mcmc.run(jax.random.key(6))
    m = mcmc.get_moments(group_by_chain=True)["s"]
    assert np.all(np.asarray(m.mean) > 0)  # constrained: a positive site
    mean = float(np.exp(0.125))  # E[LogNormal(0, 0.5)]
    se = float(np.std(np.asarray(m.mean), ddof=1) / np.sqrt(32))
    assert abs(float(np.mean(m.mean)) - mean) < 4 * se


# --- compilation -------------------------------------------------------------------------------


def _count_compiles(fn):
    import logging
    import warnings

    compiled = []

    class Counter(logging.Handler):
        def emit(self, record):
            if record.getMessage().startswith("Compiling"):
                compiled.append(record.getMessage().split(" with ")[0])

    counter, logger = Counter(), logging.getLogger("jax")
    logger.addHandler(counter)
    try:
        with jax.log_compiles(True), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn()
    finally:
        logger.removeHandler(counter)
    return compiled


@pytest.mark.parametrize("kernel", [RandomWalk, ChEES])
def test_a_second_run_with_new_data_does_not_compile(kernel):
    import dists as D
    from effects import plate, sample

    def model(y):
        mu = sample("mu", D.Normal(0.0, 5.0))
        with plate("N", y.shape[0]):
            sample("y", D.Normal(mu, 1.0), obs=y)

    def run(key, y):
        m = MCMC(
            kernel(model),
            num_warmup=20,
            num_samples=20,
            num_chains=4,
            chain_method="vectorized",
            progress_bar=False,
        )
        m.run(key, y)

    y1, y2 = jnp.array([0.1, 0.5, -0.3]), jnp.array([1.1, 1.5, 0.7])
    k1, k2 = jax.random.key(0), jax.random.key(1)
    assert len(_count_compiles(lambda: run(k1, y1))) > 0
    assert _count_compiles(lambda: run(k2, y2)) == []


@pytest.mark.parametrize("kernel", [RandomWalk, ChEES])
def test_many_chains_share_one_progress_bar(kernel, capsys):
    mcmc = MCMC(
        kernel(potential_fn=gaussian_potential),
        num_warmup=10,
        num_samples=10,
        num_chains=32,
        chain_method="vectorized",
        progress_bar=True,
    )
    mcmc.run(jax.random.key(0), init_params={"z": jnp.zeros((32, 3))})
    err = capsys.readouterr().err
    assert "(32 chains)" in err and "10/10" in err
    assert "chain 1" not in err
