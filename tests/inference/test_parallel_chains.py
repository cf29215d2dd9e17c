"""``chain_method="parallel"``: chains sharded over a device mesh with ``jax.shard_map``,
vectorised within each device (the suite runs with two host CPU devices)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dists as D
from effects import plate, sample
from inference import MCMC, NUTS, RandomWalk


def model(y):
    mu = sample("mu", D.Normal(0.0, 10.0))
    with plate("N", y.shape[0]):
        sample("y", D.Normal(mu, 1.0), obs=y)


Y = jnp.array([0.3, -0.5, 1.2, 0.8, 0.1])


def _draws(method, chains, kernel=None, **kw):
    m = MCMC(
        kernel or NUTS(model),
        num_warmup=40,
        num_samples=40,
        num_chains=chains,
        chain_method=method,
        progress_bar=False,
        **kw,
    )
    m.run(jax.random.key(3), Y)
    return m


def test_one_chain_per_device_is_the_sequential_run():
    assert jax.device_count() == 2
    par, seq = _draws("parallel", 2), _draws("sequential", 2)
    np.testing.assert_array_equal(
        par.get_extra_fields()["num_steps"], seq.get_extra_fields()["num_steps"]
    )
    np.testing.assert_allclose(par.get_samples()["mu"], seq.get_samples()["mu"], rtol=1e-12)


def test_several_chains_per_device_are_vectorised():
    par, vec = _draws("parallel", 6), _draws("vectorized", 6)
    np.testing.assert_array_equal(
        par.get_extra_fields()["num_steps"], vec.get_extra_fields()["num_steps"]
    )
    np.testing.assert_allclose(par.get_samples()["mu"], vec.get_samples()["mu"], rtol=1e-12)
    np.testing.assert_allclose(
        np.asarray(par.last_state.step_size), np.asarray(vec.last_state.step_size), rtol=1e-12
    )


def test_parallel_streaming_and_a_random_walk():
    par = _draws("parallel", 8, RandomWalk(model), streaming=True)
    vec = _draws("vectorized", 8, RandomWalk(model), streaming=True)
    a, b = par.get_moments(group_by_chain=True)["mu"], vec.get_moments(group_by_chain=True)["mu"]
    np.testing.assert_allclose(a.mean, b.mean, rtol=1e-12)
    np.testing.assert_allclose(a.variance, b.variance, rtol=1e-10)


def test_chains_that_do_not_divide_among_devices_run_sequentially():
    with pytest.warns(UserWarning, match="do not divide among 2 devices"):
        m = _draws("parallel", 3)
    assert m.get_samples(group_by_chain=True)["mu"].shape == (3, 40)
