"""A reparameteriser written outside the library, as the ``Reparam`` docstring says: the
non-centring of a user's own location-scale family (a logistic written from scratch).

Checked against SciPy: the reparameterised model gives the original site the same prior
(Kolmogorov-Smirnov at 1e-3), and its density is the original's times the Jacobian."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats as st
from jax import lax

import dists as D
import handlers as H
from dists import constraints
from dists.util import promote_shapes
from effects import plate, run, sample


@pytest.fixture(autouse=True)
def _allow_rank_promotion():
    # The family below is user code, written with JAX's default rank promotion.
    with jax.numpy_rank_promotion("allow"):
        yield


class MyLogistic(D.Distribution):
    """A user's location-scale family: ``loc + scale * logistic noise``."""

    support = constraints.real
    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    reparametrized_params = ["loc", "scale"]

    def __init__(self, loc, scale, validate_args=None):
        self.loc, self.scale = promote_shapes(loc, scale)
        batch_shape = lax.broadcast_shapes(jnp.shape(loc), jnp.shape(scale))
        super().__init__(batch_shape=batch_shape, event_shape=(), validate_args=validate_args)

    def sample(self, key, sample_shape=()):
        shape = tuple(sample_shape) + self.batch_shape
        return self.loc + self.scale * jax.random.logistic(key, shape)

    def log_prob(self, value):
        z = (value - self.loc) / self.scale
        return -z - 2 * jnp.log1p(jnp.exp(-z)) - jnp.log(self.scale)


class NonCentreMyLogistic(H.Reparam):
    """``x ~ MyLogistic(loc, scale)`` becomes ``x_std ~ MyLogistic(0, 1)`` and the
    deterministic ``x = loc + scale * x_std``."""

    def __call__(self, name, fn, obs):
        base, expand_shape, event_dim = H.unwrap(fn)
        if not isinstance(base, MyLogistic):
            raise ValueError(f"NonCentreMyLogistic at site '{name}': not a MyLogistic site.")
        std = H.rewrap(MyLogistic(0.0, 1.0), expand_shape, event_dim)
        z = sample(f"{name}_std", std)
        return None, base.loc + base.scale * z


def model():
    m = sample("m", D.Normal(1.0, 0.5))
    with plate("n", 2):
        sample("x", MyLogistic(m, 2.0))


REP = H.reparam(model, config={"x": NonCentreMyLogistic()})


def test_user_reparameteriser_replaces_the_site_inside_its_plate():
    tr = H.trace(H.seed(REP, 0)).get_trace()
    assert [n for n in tr] == ["m", "n", "x_std", "x"]
    assert tr["x"].type_name == "deterministic" and tr["x_std"].fn.batch_shape == (2,)
    np.testing.assert_allclose(tr["x"].value, tr["m"].value + 2.0 * tr["x_std"].value)


def test_user_reparameteriser_keeps_the_prior():
    # x | m ~ Logistic(m, 2) with m ~ N(1, 0.5): compare each coordinate's draws with the
    # exact conditional CDF averaged over m, through the probability integral transform:
    # u = F(x | m) is U(0, 1) whatever m is. Two coordinates: alpha 1e-3 / 2 each.
    keys = jax.random.split(jax.random.key(7), 3000)

    def draw(k):
        tr = run(REP, H.seed(k) >> H.trace())()[1][1]
        return tr["m"].value, tr["x"].value

    m, x = jax.vmap(draw)(keys)
    u = st.logistic.cdf(np.asarray(x), loc=np.asarray(m)[:, None], scale=2.0)
    for i in range(2):
        assert st.kstest(u[:, i], "uniform").pvalue > 1e-3 / 2


def test_user_reparameteriser_density_is_the_original_times_the_jacobian():
    z = jnp.array([0.7, -1.9])
    tr = H.trace(H.substitute(REP, {"m": 0.3, "x_std": z})).get_trace()
    x = 0.3 + 2.0 * np.asarray(z)
    original = st.norm.logpdf(0.3, 1.0, 0.5) + st.logistic.logpdf(x, 0.3, 2.0).sum()
    np.testing.assert_allclose(tr.log_prob_sum(), original + 2 * np.log(2.0), rtol=1e-10)
