"""``TraceEnum_ELBO`` against brute force: every assignment of the enumerated sites
listed with ``itertools`` (float64), 1-d quadrature over the continuous latent, a
hand-written forward algorithm for the HMM, and EM for the fitted mixture."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

import dists as D
from dists.util import vindex
from effects import param, plate, run, sample, scan
from handlers import config_enumerate, seed, trace
from inference import SVI, TraceEnum_ELBO, optim
from inference._elbo import ParamValues

X = jnp.array([-1.3, 0.2, 2.4])  # three observations
W = np.array([0.2, 0.5, 0.3])  # mixture weights
C = np.array([-1.0, 0.5, 2.0])  # component offsets
S0, SIGMA = 1.5, 0.8  # prior sd of the shift, observation sd


@config_enumerate
def shift_model(x):
    """A 3-component mixture whose locations share a continuous shift ``mu``."""
    mu = sample("mu", D.Normal(0.0, S0))
    locs = param("locs", jnp.asarray(C))
    with plate("N", x.shape[0]):
        z = sample("z", D.Categorical(probs=jnp.asarray(W)))
        sample("x", D.Normal(mu + locs[z], SIGMA), obs=x)


@config_enumerate
def mixture(x):
    """The same mixture with no continuous latent (the shift fixed at 0)."""
    locs = param("locs", jnp.asarray(C))
    with plate("N", x.shape[0]):
        z = sample("z", D.Categorical(probs=jnp.asarray(W)))
        sample("x", D.Normal(locs[z], SIGMA), obs=x)


def empty_guide(x):
    pass


def normal_guide(x):
    sample("mu", D.Normal(param("m", 0.0), param("s", 1.0, constraint=D.constraints.positive)))


def brute_log_joint(x, locs, mu=0.0):
    """``log sum_z p(x, z | mu)`` by listing all ``3**N`` assignments (NumPy)."""
    x = np.asarray(x)
    terms = []
    for zs in itertools.product(range(3), repeat=len(x)):
        zs = np.array(zs)
        terms.append(np.sum(np.log(W[zs]) + stats.norm.logpdf(x, mu + locs[zs], SIGMA)))
    return logsumexp(terms)


def brute_evidence_and_posterior(x, locs):
    """``log p(x)`` of ``shift_model`` and ``p(mu | x)`` as a mixture of normals: each
    assignment ``z`` makes ``x`` Gaussian (covariance ``SIGMA^2 I + S0^2 11'``) and ``mu``
    conjugate."""
    x, n = np.asarray(x), len(x)
    cov = SIGMA**2 * np.eye(n) + S0**2 * np.ones((n, n))
    prec = 1 / S0**2 + n / SIGMA**2
    log_ws, means = [], []
    for zs in itertools.product(range(3), repeat=n):
        zs = np.array(zs)
        r = x - locs[zs]
        log_ws.append(np.sum(np.log(W[zs])) + stats.multivariate_normal(np.zeros(n), cov).logpdf(r))
        means.append(r.sum() / SIGMA**2 / prec)
    log_ws = np.array(log_ws)
    return logsumexp(log_ws), log_ws - logsumexp(log_ws), np.array(means), prec**-0.5


def guide_trace(key, params, guide, *args):
    """The guide's trace in the one particle of ``loss(key, ...)`` with ``num_particles=1``
    (the particle's key is ``split(key, 1)[0]``, and the guide draws with the first half
    of its split, as every ELBO's particle does)."""
    k_guide, _ = jax.random.split(jax.random.split(key, 1)[0])
    _, (_, _, tr) = run(guide, ParamValues(dict(params)) >> seed(k_guide) >> trace())(*args)
    return tr


def test_no_continuous_latent_gives_the_exact_log_marginal_and_its_gradient():
    loss = TraceEnum_ELBO(num_particles=2)

    def f(locs):
        return -loss.loss(jax.random.key(0), {"locs": locs}, mixture, empty_guide, X)

    value, grad = jax.jit(jax.value_and_grad(f))(jnp.asarray(C))
    assert float(value) == pytest.approx(brute_log_joint(X, C), abs=1e-8)
    want = jax.grad(lambda l: _jnp_brute(X, l))(jnp.asarray(C))
    np.testing.assert_allclose(grad, want, atol=1e-8)
    # The brute force in jnp is itself checked against the NumPy one.
    assert float(_jnp_brute(X, jnp.asarray(C))) == pytest.approx(brute_log_joint(X, C), abs=1e-10)


def _jnp_brute(x, locs, mu=0.0):
    zs = jnp.array(list(itertools.product(range(3), repeat=x.shape[0])))  # (27, N)
    lp = jnp.log(jnp.asarray(W))[zs] + jax.scipy.stats.norm.logpdf(x[None], mu + locs[zs], SIGMA)
    return jax.nn.logsumexp(jnp.sum(lp, axis=1))


def test_exact_posterior_guide_gives_the_log_evidence():
    log_evidence, log_ws, means, sd = brute_evidence_and_posterior(X, C)

    def posterior_guide(x):
        comp = D.Normal(jnp.asarray(means), sd)
        sample("mu", D.MixtureSameFamily(D.Categorical(logits=jnp.asarray(log_ws)), comp))

    loss = TraceEnum_ELBO(num_particles=4)
    particles = jax.jit(lambda k: loss.particles(k, {}, shift_model, posterior_guide, (X,), {})[0])(
        jax.random.key(1)
    )
    # log p(x, mu) - log q(mu) = log p(x) at every draw: no Monte Carlo error.
    np.testing.assert_allclose(particles, log_evidence, atol=1e-8)


def _quadrature_elbo(m, s, locs):
    """``E_q[log p(x, mu) - log q(mu)]`` for ``q = N(m, s)`` by Gauss-Hermite quadrature
    (100 nodes: the integrand is smooth), with ``log p(x, mu)`` by brute force (jnp)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(100)
    mus = m + s * jnp.asarray(nodes)
    integrand = jax.vmap(
        lambda mu: (
            _jnp_brute(X, locs, mu)
            + jax.scipy.stats.norm.logpdf(mu, 0.0, S0)
            - jax.scipy.stats.norm.logpdf(mu, m, s)
        )
    )(mus)
    return jnp.sum(jnp.asarray(weights / np.sqrt(2 * np.pi)) * integrand)


def test_general_guide_is_unbiased_for_the_brute_force_elbo():
    params = {"m": 0.4, "s": 0.7, "locs": jnp.asarray(C)}
    loss = TraceEnum_ELBO(num_particles=4000)
    draws = np.asarray(
        jax.jit(lambda k: loss.particles(k, params, shift_model, normal_guide, (X,), {})[0])(
            jax.random.key(2)
        )
    )
    exact = float(_quadrature_elbo(0.4, 0.7, jnp.asarray(C)))
    se = draws.std() / np.sqrt(len(draws))
    assert abs(draws.mean() - exact) < 4 * se
    # The quadrature is right: it is a lower bound on the brute-force log evidence.
    assert exact < brute_evidence_and_posterior(X, C)[0]


def test_gradient_is_the_pathwise_gradient_of_the_brute_force_particle():
    # One particle at one key: the guide's draw is mu = m + s * eps; the brute-force
    # particle at that eps, differentiated by jax.grad, must give the same gradient in the
    # guide's params (m, s) and the model's (locs).
    key = jax.random.key(3)
    params = {"m": 0.4, "s": 0.7, "locs": jnp.asarray(C)}
    loss = TraceEnum_ELBO()

    def f(p):
        return -loss.loss(key, p, shift_model, normal_guide, X)

    got = jax.jit(jax.grad(f))(params)
    guide_tr = guide_trace(key, params, normal_guide, X)
    eps = (guide_tr["mu"].value - 0.4) / 0.7

    def brute(p):
        mu = p["m"] + p["s"] * eps
        return (
            _jnp_brute(X, p["locs"], mu)
            + jax.scipy.stats.norm.logpdf(mu, 0.0, S0)
            - jax.scipy.stats.norm.logpdf(mu, p["m"], p["s"])
        )

    want = jax.grad(brute)(params)
    for k in params:
        np.testing.assert_allclose(got[k], want[k], atol=1e-8, err_msg=k)


def test_mean_gradient_matches_the_gradient_of_the_quadrature_elbo():
    params = {"m": 0.4, "s": 0.7, "locs": jnp.asarray(C)}
    loss = TraceEnum_ELBO()
    keys = jax.random.split(jax.random.key(4), 1000)
    grads = jax.jit(
        jax.vmap(jax.grad(lambda p, k: -loss.loss(k, p, shift_model, normal_guide, X)), (None, 0))
    )(params, keys)
    want = jax.grad(lambda p: _quadrature_elbo(p["m"], p["s"], p["locs"]))(params)
    for k in params:
        g = np.asarray(grads[k])
        se = g.std(axis=0) / np.sqrt(g.shape[0])
        assert np.all(np.abs(g.mean(axis=0) - np.asarray(want[k])) < 4 * se + 1e-10), k


def test_svi_fits_the_mixture_locations_by_maximum_likelihood():
    # 200 points from two well-separated unit normals at -2 and 2 (weights 1/2): each
    # location's maximum-likelihood estimate has sd about 1/sqrt(100) = 0.1, so the fit is
    # checked against the truth within 0.4 (4 sd) and against EM's maximum-likelihood
    # locations (NumPy, run to convergence) within 0.02 (the optimiser's own error).
    rng = np.random.default_rng(0)
    truth = np.array([-2.0, 2.0])
    zs = rng.integers(0, 2, size=200)
    data = rng.normal(truth[zs], 1.0)

    calls = []

    @config_enumerate
    def gmm(x):
        calls.append(1)
        locs = param("locs", jnp.array([-0.5, 0.5]))
        with plate("N", x.shape[0]):
            z = sample("z", D.Categorical(probs=jnp.array([0.5, 0.5])))
            sample("x", D.Normal(locs[z], 1.0), obs=x)

    svi = SVI(gmm, empty_guide, optim.Adam(0.05), TraceEnum_ELBO(max_plate_nesting=1))
    result = svi.run(jax.random.key(0), 600, jnp.asarray(data), progress_bar=False)
    locs = np.sort(np.asarray(result.params["locs"]))
    assert np.all(np.abs(locs - truth) < 0.4)
    em = np.array([-0.5, 0.5])
    for _ in range(500):
        lw = -0.5 * (data[:, None] - em[None]) ** 2
        r = np.exp(lw - logsumexp(lw, axis=1, keepdims=True))
        em = (r * data[:, None]).sum(0) / r.sum(0)
    np.testing.assert_allclose(locs, np.sort(em), atol=0.02)
    assert float(result.losses[-1]) < float(result.losses[0])
    # A second run with new data of the same shape does not trace the model again.
    traced = len(calls)
    svi.run(jax.random.key(1), 600, jnp.asarray(data[::-1].copy()), progress_bar=False)
    assert len(calls) == traced


TRANS = np.array([[0.8, 0.15, 0.05], [0.1, 0.7, 0.2], [0.25, 0.25, 0.5]])
HMM_LOCS = np.array([-1.0, 0.5, 2.0])
YS = jnp.array([0.3, 1.9, -0.7, 0.4, 1.2])


def forward_np(ys, trans, locs, shift):
    """The forward algorithm by hand (NumPy), from x_{-1} = 0."""
    lt = np.log(trans)

    def emit(y):
        return stats.norm.logpdf(y, locs + shift, 1.0)

    alpha = lt[0] + emit(float(ys[0]))
    for y in np.asarray(ys)[1:]:
        alpha = logsumexp(alpha[:, None] + lt, axis=0) + emit(float(y))
    return logsumexp(alpha)


def test_hmm_in_scan_equals_the_forward_algorithm():
    def hmm(ys):
        trans = param("trans", jnp.asarray(TRANS), constraint=D.constraints.simplex)
        shift = sample("shift", D.Normal(0.0, 1.0))

        def step(x, y):
            x = sample("x", D.Categorical(probs=vindex(trans, (x,))))
            sample("y", D.Normal(jnp.asarray(HMM_LOCS)[x] + shift, 1.0), obs=y)
            return x, None

        scan(step, jnp.array(0), ys)

    def delta_guide(ys):
        sample("shift", D.Delta(param("b", 0.3)))

    loss = TraceEnum_ELBO()
    params = {"trans": jnp.asarray(TRANS), "b": 0.3}
    value, grad = jax.jit(
        jax.value_and_grad(
            lambda p: -loss.loss(jax.random.key(0), p, config_enumerate(hmm), delta_guide, YS)
        )
    )(params)
    # A Delta guide at b: the particle is log p(ys, shift = b) exactly.
    want = forward_np(YS, TRANS, HMM_LOCS, 0.3) + stats.norm.logpdf(0.3)
    assert float(value) == pytest.approx(want, abs=1e-8)
    # Its gradient in b by central differences of the NumPy forward algorithm.
    h = 1e-5
    fd = (
        forward_np(YS, TRANS, HMM_LOCS, 0.3 + h)
        + stats.norm.logpdf(0.3 + h)
        - forward_np(YS, TRANS, HMM_LOCS, 0.3 - h)
        - stats.norm.logpdf(0.3 - h)
    ) / (2 * h)
    assert float(grad["b"]) == pytest.approx(fd, abs=1e-6)


def test_guide_enumeration_is_refused_naming_the_site():
    def guide(x):
        sample("mu", D.Normal(0.0, 1.0))
        with plate("N", x.shape[0]):
            sample("z", D.Categorical(probs=jnp.asarray(W)), infer={"enumerate": "parallel"})

    with pytest.raises(ValueError, match=r"guide site\(s\) \['z'\].*enumeration"):
        # Refused while tracing: under jit nothing is compiled before the error.
        jax.jit(lambda: TraceEnum_ELBO().loss(jax.random.key(0), {}, shift_model, guide, X))()


def test_unmarked_discrete_site_missing_from_the_guide_is_refused_naming_it():
    def model(x):
        with plate("N", x.shape[0]):
            z = sample("z", D.Categorical(probs=jnp.asarray(W)))
            sample("x", D.Normal(jnp.asarray(C)[z], SIGMA), obs=x)

    with pytest.raises(ValueError, match=r"\['z'\] are neither sampled by the guide nor marked"):
        jax.jit(lambda: TraceEnum_ELBO().loss(jax.random.key(0), {}, model, empty_guide, X))()


def test_bad_max_plate_nesting_is_refused():
    with pytest.raises(ValueError, match="max_plate_nesting must be"):
        TraceEnum_ELBO(max_plate_nesting=-1)
    with pytest.raises(ValueError, match="num_particles must be"):
        TraceEnum_ELBO(num_particles=0)


def test_guide_sampled_discrete_site_is_replayed_not_enumerated():
    # A site the guide samples is given the guide's value (and a score-function term), so
    # the particle is log p(x, z) - log q(z) at the guide's draw, checked by brute force.
    def guide(x):
        with plate("N", x.shape[0]):
            sample("z", D.Categorical(probs=jnp.array([0.3, 0.3, 0.4])))

    key = jax.random.key(5)
    got = jax.jit(lambda k: TraceEnum_ELBO().loss(k, {}, mixture, guide, X))(key)
    guide_tr = guide_trace(key, {}, guide, X)
    zs = np.asarray(guide_tr["z"].value)
    want = np.sum(
        np.log(W[zs]) + stats.norm.logpdf(np.asarray(X), C[zs], SIGMA) - np.log([0.3, 0.3, 0.4])[zs]
    )
    assert -float(got) == pytest.approx(want, abs=1e-8)


def test_subsampled_plate_gives_an_unbiased_estimate_of_the_log_marginal():
    # Two of four points per estimate, scaled by 4/2: the mean over keys is the exact
    # log marginal of all four (the scale multiplies the log of each point's sum over z).
    x4 = jnp.array([-1.3, 0.2, 2.4, 0.7])

    @config_enumerate
    def model(x):
        with plate("N", 4, subsample_size=2) as idx:
            z = sample("z", D.Categorical(probs=jnp.asarray(W)))
            sample("x", D.Normal(jnp.asarray(C)[z], SIGMA), obs=x[idx])

    keys = jax.random.split(jax.random.key(6), 4000)
    draws = np.asarray(
        jax.jit(jax.vmap(lambda k: -TraceEnum_ELBO().loss(k, {}, model, empty_guide, x4)))(keys)
    )
    exact = sum(brute_log_joint(x4[i : i + 1], C) for i in range(4))
    se = draws.std() / np.sqrt(len(draws))
    assert abs(draws.mean() - exact) < 4 * se


def test_global_enumerated_variable_feeding_a_subsampled_plate_is_refused():
    @config_enumerate
    def model(x):
        z = sample("z", D.Categorical(probs=jnp.asarray(W)))
        with plate("N", 3, subsample_size=2) as idx:
            sample("x", D.Normal(jnp.asarray(C)[z], SIGMA), obs=x[idx])

    with pytest.raises(NotImplementedError, match=r"\['z'\] are not scaled by the same"):
        jax.jit(lambda: TraceEnum_ELBO().loss(jax.random.key(0), {}, model, empty_guide, X))()


def test_local_guide_latent_beside_an_enumerated_site_in_one_plate():
    # Per point: z enumerated, y drawn by the guide, x observed; the particle is
    # sum_i [log sum_z p(z) p(y_i | z)] + log p(x | y) - log q(y) at the guide's y (NumPy).
    @config_enumerate
    def model(x):
        with plate("N", 3):
            z = sample("z", D.Categorical(probs=jnp.asarray(W)))
            y = sample("y", D.Normal(jnp.asarray(C)[z], 1.0))
            sample("x", D.Normal(y, 0.5), obs=x)

    m = jnp.array([0.1, 0.2, 0.3])

    def guide(x):
        with plate("N", 3):
            sample("y", D.Normal(m, 0.7))

    key = jax.random.key(7)
    got = jax.jit(lambda k: -TraceEnum_ELBO().loss(k, {}, model, guide, X))(key)
    y = np.asarray(guide_trace(key, {}, guide, X)["y"].value)
    want = (
        sum(logsumexp(np.log(W) + stats.norm.logpdf(y[i], C, 1.0)) for i in range(3))
        + stats.norm.logpdf(np.asarray(X), y, 0.5).sum()
        - stats.norm.logpdf(y, np.asarray(m), 0.7).sum()
    )
    assert float(got) == pytest.approx(want, abs=1e-8)


def test_autoguides_leave_enumerated_sites_to_the_model():
    # An autoguide guides the continuous latent sites only; a site marked for enumeration
    # is summed out by the model under TraceEnum_ELBO (as NumPyro's autoguides do). The
    # MAP locations (AutoDelta) equal EM's MAP under the same N(0, 10) prior.
    from inference import Trace_ELBO, init_to_value
    from inference.autoguide import AutoDelta, AutoNormal

    rng = np.random.default_rng(1)
    data = rng.normal(np.array([-2.0, 2.0])[rng.integers(0, 2, size=200)], 1.0)

    @config_enumerate
    def gmm(x):
        locs = sample("locs", D.Normal(0.0, 10.0).expand([2]).to_event(1))
        with plate("N", x.shape[0]):
            z = sample("z", D.Categorical(probs=jnp.array([0.5, 0.5])))
            sample("x", D.Normal(locs[z], 1.0), obs=x)

    start = init_to_value(values={"locs": jnp.array([-0.5, 0.5])})
    guide = AutoDelta(gmm, init_loc_fn=start)
    svi = SVI(gmm, guide, optim.Adam(0.05), TraceEnum_ELBO(max_plate_nesting=1))
    result = svi.run(jax.random.key(0), 600, jnp.asarray(data), progress_bar=False)
    locs = np.asarray(guide.median(result.params, jnp.asarray(data))["locs"])
    em = np.array([-0.5, 0.5])
    for _ in range(500):
        lw = -0.5 * (data[:, None] - em[None]) ** 2
        r = np.exp(lw - logsumexp(lw, axis=1, keepdims=True))
        em = (r * data[:, None]).sum(0) / (r.sum(0) + 1 / 100.0)  # the prior's precision
    np.testing.assert_allclose(locs, em, atol=0.02)
    # Under Trace_ELBO nothing sums the site out, and the error names it.
    svi = SVI(gmm, AutoNormal(gmm), optim.Adam(0.05), Trace_ELBO())
    with pytest.raises(ValueError, match="'z'.*TraceEnum_ELBO"):
        svi.init(jax.random.key(0), jnp.asarray(data))


def test_loss_with_an_empty_param_map_is_the_loss_at_the_initial_params():
    # NumPyro's GMM tutorial scores each candidate start by `elbo.loss(key, {}, model,
    # AutoDelta(..., init_loc_fn=init_to_value(...)), data)`: params missing from the map
    # take their initial values. Oracle: minus the log joint at the start, the assignments
    # summed out by hand with SciPy (AutoDelta's point masses have log density 0).
    from inference import init_to_value
    from inference.autoguide import AutoDelta

    data = jnp.array([0.0, 1.0, 10.0, 11.0, 12.0])

    @config_enumerate
    def gmm(x):
        weights = sample("weights", D.Dirichlet(0.5 * jnp.ones(2)))
        scale = sample("scale", D.LogNormal(0.0, 2.0))
        with plate("components", 2):
            locs = sample("locs", D.Normal(0.0, 10.0))
        with plate("data", x.shape[0]):
            z = sample("z", D.Categorical(weights))
            sample("obs", D.Normal(locs[z], scale), obs=x)

    w, s, locs = np.array([0.3, 0.7]), 2.5, np.array([1.0, 11.0])
    start = {"weights": jnp.asarray(w), "scale": jnp.asarray(s), "locs": jnp.asarray(locs)}
    guide = AutoDelta(gmm, init_loc_fn=init_to_value(values=start))
    x = np.asarray(data)
    log_joint = (
        stats.dirichlet([0.5, 0.5]).logpdf(w)
        + stats.lognorm(s=2.0).logpdf(s)
        + stats.norm(0, 10).logpdf(locs).sum()
        + logsumexp(np.log(w) + stats.norm(locs, s).logpdf(x[:, None]), axis=1).sum()
    )
    elbo = TraceEnum_ELBO()
    loss = elbo.loss(jax.random.key(0), {}, gmm, guide, data)
    np.testing.assert_allclose(float(loss), -log_joint, rtol=1e-12)
    # A param given in the map wins; the others still start at their initial values.
    moved = {"locs_auto_loc": jnp.array([0.5, 11.0])}
    log_joint_moved = (
        log_joint
        - stats.norm(0, 10).logpdf(locs).sum()
        - logsumexp(np.log(w) + stats.norm(locs, s).logpdf(x[:, None]), axis=1).sum()
        + stats.norm(0, 10).logpdf([0.5, 11.0]).sum()
        + logsumexp(np.log(w) + stats.norm([0.5, 11.0], s).logpdf(x[:, None]), axis=1).sum()
    )
    loss = elbo.loss(jax.random.key(0), moved, gmm, guide, data)
    np.testing.assert_allclose(float(loss), -log_joint_moved, rtol=1e-12)


def test_missing_params_start_where_svi_init_starts_them():
    # Params with random initialisers: `loss(key, {}, ...)` fills each with the value that
    # SVI.init(key, ...) gives it, so it is the loss at SVI's start, deterministic in key.
    from inference import Trace_ELBO

    def model(x):
        mu = sample("mu", D.Normal(0.0, 1.0))
        with plate("N", x.shape[0]):
            sample("x", D.Normal(mu, 1.0), obs=x)

    def guide(x):
        m = param("m", lambda k: jax.random.normal(k))
        s = param("s", lambda k: jax.random.uniform(k) + 0.5, constraint=D.constraints.positive)
        sample("mu", D.Normal(m, s))

    elbo = Trace_ELBO(num_particles=3)
    svi = SVI(model, guide, optim.Adam(0.1), elbo)
    for seed_ in (0, 1):
        key = jax.random.key(seed_)
        start = svi.get_params(svi.init(key, X))
        filled = elbo.loss(key, {}, model, guide, X)
        np.testing.assert_allclose(filled, elbo.loss(key, start, model, guide, X), rtol=1e-12)
        np.testing.assert_array_equal(filled, elbo.loss(key, {}, model, guide, X))
    a, b = (elbo.loss(jax.random.key(i), {}, model, guide, X) for i in (0, 1))
    assert float(a) != float(b)
