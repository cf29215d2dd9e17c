"""Inference around enumerated models: log_likelihood with the enumerated sites summed
out, Predictive on a scan-enumerated model (prior draws, and infer_discrete draws
against the exact posterior), and deterministic sites in enumerated models (float64)."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats
from scipy.special import logsumexp

import dists as D
from dists.util import vindex
from effects import deterministic, plate, sample, scan
from handlers import config_enumerate
from inference import Predictive, log_likelihood
from inference._log_density import constrain_fn

TRANS = jnp.array([[0.7, 0.3], [0.2, 0.8]])
P_Z = jnp.array([0.3, 0.7])
allow = jax.numpy_rank_promotion("allow")


def mixture(x):
    locs = sample("locs", D.Normal(jnp.zeros(2), 3.0).to_event(1))
    deterministic("spread", locs[1] - locs[0])
    with plate("n", x.shape[0]):
        z = sample("z", D.Categorical(probs=P_Z))
        deterministic("chosen", locs[z])
        sample("x", D.Normal(locs[z], 1.0), obs=x)


def chain(ys):
    locs = sample("locs", D.Normal(jnp.zeros(2), 3.0).to_event(1))

    def step(x, y):
        x = sample("x", D.Categorical(probs=vindex(TRANS, (x,))))
        sample("y", D.Normal(locs[x], 1.0), obs=y)
        return x, None

    scan(step, jnp.array(0), ys)


X = jnp.array([0.3, 2.1, -1.0, 1.4])
YS = jnp.array([0.2, 1.1, 0.9])
LOCS = jnp.array([[-1.0, 1.5], [0.0, 2.0]])  # two posterior draws


def normal_lp(y, loc):
    return stats.norm.logpdf(y, loc, 1.0)


def test_log_likelihood_of_a_mixture_sums_out_the_assignments():
    got = log_likelihood(config_enumerate(mixture), {"locs": LOCS}, X)["x"]
    assert got.shape == (2, 4)
    for d in range(2):
        loc = np.asarray(LOCS[d])
        want = logsumexp(np.log(P_Z)[None, :] + normal_lp(np.asarray(X)[:, None], loc), axis=1)
        np.testing.assert_allclose(got[d], want, rtol=0, atol=1e-10)


def test_log_likelihood_of_a_scan_chain_is_each_steps_marginal():
    got = log_likelihood(config_enumerate(chain), {"locs": LOCS}, YS)["y"]
    assert got.shape == (2, 3)  # draws, time
    trans = np.asarray(TRANS)
    for d in range(2):
        p = np.array([1.0, 0.0])  # x_{-1} = 0
        for t in range(3):
            p = p @ trans  # the prior marginal of x_t
            want = logsumexp(np.log(p) + normal_lp(float(YS[t]), np.asarray(LOCS[d])))
            np.testing.assert_allclose(float(got[d, t]), want, rtol=0, atol=1e-10)


def test_predictive_infer_discrete_on_a_scan_draws_the_exact_posterior():
    """2000 draws of the 3-step path given locs, against the exact posterior of its 8
    paths: a chi-square test whose false-alarm rate (p-value threshold) is 1e-4."""
    n = 2000
    locs = jnp.array([-0.5, 1.5])
    samples = {"locs": jnp.broadcast_to(locs, (n, 2))}
    pred = Predictive(config_enumerate(chain), samples, infer_discrete=True)
    xs = np.asarray(pred(jax.random.key(3), YS)["x"])
    assert xs.shape == (n, 3)
    paths = list(itertools.product(range(2), repeat=3))
    lps = []
    for path in paths:
        lp, prev = 0.0, 0
        for x, y in zip(path, np.asarray(YS)):
            lp += np.log(float(TRANS[prev, x])) + normal_lp(float(y), float(locs[x]))
            prev = x
        lps.append(lp)
    probs = np.exp(np.array(lps) - logsumexp(lps))
    index = {p: i for i, p in enumerate(paths)}
    counts = np.zeros(len(paths))
    for row in xs:
        counts[index[tuple(int(v) for v in row)]] += 1
    _, pvalue = stats.chisquare(counts, n * probs)
    assert pvalue > 1e-4


def test_prior_predictive_of_a_scan_chain_draws_each_step():
    n = 2000
    xs = np.asarray(Predictive(config_enumerate(chain), num_samples=n)(jax.random.key(4), YS)["x"])
    assert xs.shape == (n, 3)
    # x_0 ~ TRANS[0]: a binomial count, checked at a false-alarm rate of 1e-4.
    k = int(np.sum(xs[:, 0] == 1))
    assert stats.binomtest(k, n, float(TRANS[0, 1])).pvalue > 1e-4


def test_deterministic_sites_of_an_enumerated_model_have_their_own_shapes():
    """As in NumPyro: constraining draws of an enumerated model gives each deterministic
    site its shape without enumeration dims; one that depends only on continuous sites is
    exact (one that depends on an enumerated site takes a fixed-key prior draw of it)."""
    u = {"locs": jnp.array([-1.0, 2.0])}
    out = constrain_fn(config_enumerate(mixture), (X,), {}, u, return_deterministic=True)
    assert out["spread"].shape == ()
    np.testing.assert_allclose(float(out["spread"]), 3.0)
    assert out["chosen"].shape == (4,)
    assert set(np.asarray(out["chosen"]).tolist()) <= {-1.0, 2.0}
