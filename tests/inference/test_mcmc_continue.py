"""Running MCMC again: a new run warms up afresh, continuing is asked for, and a continued
chain always samples the current arguments' posterior (never a stale potential)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dists as D
from effects import plate, sample
from inference import MCMC, NUTS


def location(y):
    mu = sample("mu", D.Normal(0.0, 100.0))
    with plate("N", y.shape[0]):
        sample("y", D.Normal(mu, 1.0), obs=y)


def per_point(y):
    with plate("N", y.shape[0]):
        z = sample("z", D.Normal(0.0, 1.0))
        sample("y", D.Normal(z, 1.0), obs=y)


Y1 = jnp.asarray(np.random.default_rng(0).normal(0.0, 1.0, 20))
Y2 = Y1 + 50.0  # the same data shifted: posterior mean about 50, sd 1/sqrt(20)
SD = 1.0 / np.sqrt(20.0)


def _mcmc(**kw):
    kw = {"num_warmup": 200, "num_samples": 200, "progress_bar": False} | kw
    return MCMC(NUTS(location), **kw)


def _check_location(mcmc, y):
    mu = np.asarray(mcmc.get_samples()["mu"])
    # Posterior of mu: mean(y) * n / (n + 1/100^2) ~ mean(y), sd ~ 1/sqrt(20). The draws
    # are correlated; 6 posterior sds is a loose bound for a chain that mixes and a wide
    # miss for one that is frozen at the first data (50 apart).
    assert abs(mu.mean() - float(jnp.mean(y))) < 6 * SD
    assert mu.std() > 0.3 * SD  # a frozen chain has sd 0


def test_a_second_run_with_new_data_samples_the_new_posterior():
    m = _mcmc()
    m.run(jax.random.key(0), Y1)
    _check_location(m, Y1)
    m.run(jax.random.key(1), Y2)
    _check_location(m, Y2)


def test_warmup_then_run_with_other_data_recomputes_the_potential():
    m = _mcmc()
    m.warmup(jax.random.key(0), Y1)
    m.run(jax.random.key(1), Y2)  # continues from the warm-up state (NumPyro's rule)
    mu = np.asarray(m.get_samples()["mu"])
    # The chain starts near 0 and must travel to 50: the second half of the draws is there.
    assert abs(mu[100:].mean() - float(jnp.mean(Y2))) < 6 * SD
    assert not np.allclose(mu, mu[0])


def test_continuing_by_post_warmup_state_keeps_the_adaptation():
    m = _mcmc()
    m.run(jax.random.key(0), Y1)
    step = float(m.last_state.step_size[0])
    m.post_warmup_state = m.last_state
    m.run(m.last_state.rng_key[0], Y1)
    assert float(m.last_state.step_size[0]) == step
    _check_location(m, Y1)


def test_new_data_shape_recompiles_instead_of_failing():
    m = MCMC(NUTS(per_point), num_warmup=50, num_samples=50, progress_bar=False)
    m.run(jax.random.key(0), jnp.zeros(3))
    m.run(jax.random.key(0), jnp.zeros(5))
    assert m.get_samples()["z"].shape == (50, 5)
    # Continuing cannot change a latent site's shape: a clear error, and nothing is lost.
    m.post_warmup_state = m.last_state
    before = np.asarray(m.get_samples()["z"])
    with pytest.raises(ValueError, match=r"post_warmup_state = None"):
        m.run(jax.random.key(1), jnp.zeros(4))
    np.testing.assert_array_equal(np.asarray(m.get_samples()["z"]), before)


def test_same_key_on_a_fresh_object_gives_the_same_draws():
    a, b = _mcmc(num_chains=2), _mcmc(num_chains=2)
    a.run(jax.random.key(3), Y1)
    b.run(jax.random.key(3), Y1)
    np.testing.assert_array_equal(a.get_samples()["mu"], b.get_samples()["mu"])
    # And again on the same object (it warms up afresh).
    a.run(jax.random.key(3), Y1)
    np.testing.assert_array_equal(a.get_samples()["mu"], b.get_samples()["mu"])


def test_post_warmup_state_means_what_it_means_in_numpyro():
    m = _mcmc()
    m.warmup(jax.random.key(0), Y1)
    warm = m.post_warmup_state
    m.run(jax.random.key(5), Y1)
    first = np.asarray(m.get_samples()["mu"])
    # run() does not move post_warmup_state: the same key continues from the same state.
    assert m.post_warmup_state is warm
    m.run(jax.random.key(5), Y1)
    np.testing.assert_array_equal(np.asarray(m.get_samples()["mu"]), first)
    # last_state is where the last run ended.
    assert float(m.last_state.z.z[0, 0]) == pytest.approx(float(first[-1]))


def test_collect_warmup_returns_the_warmup_draws():
    m = _mcmc(num_warmup=60, num_samples=10)
    m.warmup(jax.random.key(0), Y1, collect_warmup=True)
    assert m.get_samples()["mu"].shape == (60,)
    assert m.get_extra_fields()["diverging"].shape == (60,)
