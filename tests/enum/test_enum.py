"""Enumeration: the enum handler, vindex, the contraction against brute force (float64),
infer_discrete (MAP and draws), NUTS on an enumerated mixture, and the errors."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

import dists as D
import handlers
from dists.util import vindex
from effects import plate, run, sample
from handlers import condition, config_enumerate, enum, factors, seed, trace
from inference import MCMC, NUTS, contract_factors, infer_discrete
from inference._log_density import LogJoint, ToSupport, potential_energy

P_Z = jnp.array([0.2, 0.3, 0.5])
LOCS = jnp.array([-1.0, 0.5, 2.0])
X3 = jnp.array([0.3, 1.9, -0.7])


# Enumerated values broadcast against each other by rank (an enumerated site's dim lies
# left of everything else), so the models' own arithmetic opts into rank promotion, as
# users' models do; the library itself never relies on it.
allow = jax.numpy_rank_promotion("allow")


def f64(x):
    return jnp.asarray(x).astype(jnp.float64)


def mixture(locs=LOCS):
    z = sample("z", D.Categorical(probs=P_Z))
    with plate("n", 3):
        w = sample("w", D.Bernoulli(probs=0.3))
        with allow:
            sample("x", D.Normal(locs[z] + f64(w), 1.0), obs=X3)


def two_level(shift=0.0):
    """A global variable, one per group, one per (group, item); data per item."""
    z = sample("z", D.Bernoulli(probs=0.4))
    with plate("g", 2, dim=-2):
        y = sample("y", D.Categorical(probs=jnp.array([0.5, 0.3, 0.2])))
        with plate("i", 2, dim=-1):
            w = sample("w", D.Bernoulli(probs=0.6))
            with allow:
                loc = shift + 1.0 * f64(z) + 0.5 * f64(y) + 2.0 * f64(w)
            sample("obs", D.Normal(loc, 1.0), obs=jnp.array([[0.1, 2.5], [1.7, -0.4]]))


def hmm(scale=1.0, T=4):
    trans = jnp.array([[0.8, 0.2], [0.3, 0.7]])
    x = jnp.array(0)
    for t in range(T):
        x = sample(f"x{t}", D.Categorical(probs=vindex(trans, (x,))))
        sample(f"y{t}", D.Normal(scale * f64(x), 1.0), obs=jnp.array([0.2, 1.1, 0.9, -0.3])[t])


def brute(model, sites, supports, *args):
    """log p of every joint assignment of the discrete sites (plain itertools)."""
    out = {}
    for values in itertools.product(*supports):
        data = {}
        for s, v in zip(sites, values):
            data[s] = jnp.asarray(v)
        _, (tr,) = run(condition(model, data), trace())(*args)
        out[values] = float(tr.log_prob_sum())
    return out


def joint_lps(model, datas, *args):
    """log p of the model conditioned on each of ``datas`` (dicts of the discrete sites'
    values), all at once: one compiled, vectorised program."""
    stacked = {k: jnp.stack([d[k] for d in datas]) for k in datas[0]}

    def one(data):
        _, (tr,) = run(condition(model, data), trace())(*args)
        return tr.log_prob_sum()

    return jax.vmap(one)(stacked)


def _two_level_table():
    keys = [
        (z, ys, ws)
        for z in range(2)
        for ys in itertools.product(range(3), repeat=2)
        for ws in itertools.product(range(2), repeat=4)
    ]
    datas = [
        {
            "z": jnp.array(z, dtype=jnp.float64),
            "y": jnp.array(ys).reshape(2, 1),
            "w": jnp.array(ws, dtype=jnp.float64).reshape(2, 2),
        }
        for z, ys, ws in keys
    ]
    return keys, np.asarray(jax.jit(lambda: joint_lps(two_level, datas))())


def compiled(f, *args):
    """``f(*args)`` compiled, the JAX arrays among ``args`` traced and the rest fixed
    (the eager contraction dispatches many small ops)."""
    arrays = [a for a in args if isinstance(a, jax.Array)]

    def g(*arrs):
        it = iter(arrs)
        return f(*(next(it) if isinstance(a, jax.Array) else a for a in args))

    return jax.jit(g)(*arrays)


def enumerated_lp(model, m, *args):
    def lp(*args):
        pipe = enum(first_available_dim=-m - 1) >> factors()
        _, (_, fs) = run(config_enumerate(model), pipe)(*args)
        return contract_factors(fs, m)

    return compiled(lp, *args)


def test_enum_gives_each_site_its_own_dim_and_labels_downstream_sites():
    _, (_, tr) = run(config_enumerate(mixture), enum(first_available_dim=-2) >> trace())()
    assert tr["z"].value.shape == (3, 1)
    assert tr["w"].value.shape == (2, 1, 1)
    assert dict(tr["x"].infer["dim_labels"]) == {-2: "z", -3: "w"}
    np.testing.assert_array_equal(tr["z"].value[:, 0], [0, 1, 2])


def test_vindex_broadcasts_batch_dims():
    p = jnp.arange(24.0).reshape(2, 3, 4)
    z = jnp.array([[0], [3]])  # (2, 1)
    got = vindex(p, (..., z))  # batch (2, 3) of p broadcast with z's (2, 1)
    assert got.shape == (2, 3)
    for a in range(2):
        for b in range(3):
            assert got[a, b] == p[a, b, int(z[a, 0])]
    i = jnp.array([1, 0])
    got = vindex(p, (i, slice(None), i))  # a ':' is kept on the right
    assert got.shape == (2, 3)
    for k in range(2):
        np.testing.assert_array_equal(got[k], p[int(i[k]), :, int(i[k])])


WS = list(itertools.product(range(2), repeat=3))


def _mixture_brute(locs=LOCS):
    datas = [
        {"z": jnp.array(z), "w": jnp.array(ws, dtype=jnp.float64)} for z in range(3) for ws in WS
    ]
    return jax.nn.logsumexp(joint_lps(lambda: mixture(locs), datas))


def test_mixture_in_a_plate_matches_brute_force_with_gradient():
    got = enumerated_lp(mixture, 1)
    np.testing.assert_allclose(float(got), float(_mixture_brute()), rtol=0, atol=1e-10)
    g_enum = jax.jit(jax.grad(lambda locs: enumerated_lp(lambda: mixture(locs), 1)))(LOCS)
    g_brute = jax.jit(jax.grad(_mixture_brute))(LOCS)
    np.testing.assert_allclose(g_enum, g_brute, rtol=0, atol=1e-10)


def test_two_level_plated_model_matches_brute_force():
    _, lps = _two_level_table()
    np.testing.assert_allclose(float(enumerated_lp(two_level, 2)), logsumexp(lps), atol=1e-10)


def _hmm_brute(T=4):
    paths = list(itertools.product(range(2), repeat=T))
    datas = [{f"x{t}": jnp.array(v) for t, v in enumerate(xs)} for xs in paths]
    lps = np.asarray(jax.jit(lambda: joint_lps(lambda: hmm(1.0, T), datas))())
    return {xs: float(lp) for xs, lp in zip(paths, lps)}


def test_hmm_of_length_four_matches_brute_force():
    table = _hmm_brute()
    got = enumerated_lp(lambda: hmm(1.0, 4), 0)
    np.testing.assert_allclose(float(got), logsumexp(list(table.values())), atol=1e-10)


def test_max_ring_gives_the_brute_force_max():
    @jax.jit
    def top():
        pipe = enum(first_available_dim=-3) >> factors()
        _, (_, fs) = run(config_enumerate(two_level), pipe)()
        return contract_factors(fs, 2, ring="max")

    _, lps = _two_level_table()
    np.testing.assert_allclose(float(top()), max(lps), atol=1e-10)


def test_infer_discrete_map_is_the_brute_force_argmax():
    # two-level model: the joint argmax over all 2 * 9 * 16 assignments
    keys, lps = _two_level_table()
    best = (None,) + keys[int(np.argmax(lps))]

    @jax.jit
    def decoded():
        tr = trace(infer_discrete(config_enumerate(two_level), temperature=0)).get_trace()
        tr_hmm = trace(
            infer_discrete(config_enumerate(lambda: hmm(1.0, 4)), temperature=0)
        ).get_trace()
        return (
            tr["z"].value,
            tr["y"].value,
            tr["w"].value,
            [tr_hmm[f"x{t}"].value for t in range(4)],
        )

    z, y, w, xs = decoded()
    assert int(z) == best[1]
    np.testing.assert_array_equal(np.asarray(y).reshape(-1), best[2])
    np.testing.assert_array_equal(np.asarray(w).reshape(-1), best[3])
    assert y.shape == (2, 1) and w.shape == (2, 2)
    # and the HMM
    table = _hmm_brute()
    want = max(table, key=table.get)
    assert tuple(int(x) for x in xs) == want


def test_infer_discrete_samples_follow_the_exact_posterior():
    """Chi-square test of 4000 joint draws of the HMM's 16 paths against the exact
    posterior. The seed is fixed; the false-alarm rate of the test is 1e-4 (p-value
    threshold), so it does not flake by chance."""
    table = _hmm_brute()
    paths = list(table)
    logp = np.array([table[p] for p in paths])
    probs = np.exp(logp - logsumexp(logp))
    model = config_enumerate(lambda: hmm(1.0, 4))

    def draw(k):
        tr = trace(infer_discrete(model, temperature=1, rng_key=k)).get_trace()
        return jnp.stack([tr[f"x{t}"].value for t in range(4)])

    n = 4000
    xs = np.asarray(jax.jit(jax.vmap(draw))(jax.random.split(jax.random.key(7), n)))
    counts = np.zeros(len(paths))
    index = {p: i for i, p in enumerate(paths)}
    for row in xs:
        counts[index[tuple(int(v) for v in row)]] += 1
    _, pvalue = stats.chisquare(counts, n * probs)
    assert pvalue > 1e-4


def test_errors_name_the_site_and_plate():
    def outside():
        with plate("n", 3):
            z = sample("z", D.Bernoulli(probs=0.3))
        sample("x", D.Normal(f64(z), 1.0), obs=0.0)  # z's value is (2, 1): no plate dim

    with pytest.raises(ValueError, match=r"'x' uses enumerated variable 'z' outside plate"):
        enumerated_lp(outside, 1)

    def coupled():
        with plate("a", 2, dim=-1):
            u = sample("u", D.Bernoulli(probs=0.3))
        with plate("b", 3, dim=-2):
            v = sample("v", D.Bernoulli(probs=0.6))
        with plate("a", 2, dim=-1), plate("b", 3, dim=-2):
            with allow:
                sample("x", D.Normal(f64(u + v), 1.0), obs=jnp.zeros((3, 2)))

    with pytest.raises(ValueError, match=r"\['x'\] couple enumerated variables of plates"):
        enumerated_lp(coupled, 2)

    def unmarked():
        sample("z", D.Bernoulli(probs=0.3))
        sample("x", D.Normal(0.0, 1.0))

    from inference import initialize_model

    with pytest.raises(ValueError, match="'z' is a discrete latent.*config_enumerate"):
        initialize_model(jax.random.key(0), unmarked)


def test_the_potential_of_a_continuous_model_is_the_same_program():
    """The model's spec (one abstract run, which adds nothing to the program) says it
    has no enumerated site: its potential traces to the same program as
    ToSupport >> LogJoint (so NUTS draws stay bitwise identical)."""

    def model(y):
        mu = sample("mu", D.Normal(0.0, 5.0))
        tau = sample("tau", D.HalfCauchy(5.0))
        with plate("J", 3):
            theta = sample("theta", D.Normal(mu, tau))
            sample("obs", D.Normal(theta, 2.0), obs=y)

    y = jnp.array([1.0, 2.0, 3.0])
    u = {"mu": jnp.array(0.1), "tau": jnp.array(0.2), "theta": jnp.ones(3)}

    def old(u):
        _, (log_det, lj) = run(model, ToSupport(u) >> LogJoint())(y)
        return -(lj + log_det)

    new = jax.make_jaxpr(lambda u: potential_energy(model, (y,), {}, u))(u)
    assert str(new) == str(jax.make_jaxpr(old)(u))


def test_nuts_on_an_enumerated_mixture_matches_the_grid_posterior():
    """A two-component mixture with known weights and one unknown shift ``mu``: NUTS on
    the enumerated model against the posterior mean of ``mu`` on a fine grid of the
    brute-force marginal likelihood, within 4 Monte Carlo standard errors."""
    from inference import effective_sample_size

    rng = np.random.default_rng(0)
    x = jnp.asarray(np.concatenate([rng.normal(-1.0, 1.0, 8), rng.normal(2.0, 1.0, 12)]))

    def model(x):
        mu = sample("mu", D.Normal(0.0, 3.0))
        with plate("n", x.shape[0]):
            z = sample("z", D.Bernoulli(probs=0.6))
            with allow:
                sample("x", D.Normal(mu + 3.0 * f64(z) - 1.0, 1.0), obs=x)

    grid = np.linspace(-6, 6, 6001)
    xs = np.asarray(x)[None, :]
    lik = np.logaddexp(
        np.log(0.4) + stats.norm.logpdf(xs, grid[:, None] - 1.0, 1.0),
        np.log(0.6) + stats.norm.logpdf(xs, grid[:, None] + 2.0, 1.0),
    ).sum(1) + stats.norm.logpdf(grid, 0.0, 3.0)
    w = np.exp(lik - lik.max())
    w /= w.sum()
    want = float((w * grid).sum())
    sd = float(np.sqrt((w * (grid - want) ** 2).sum()))

    m = MCMC(NUTS(config_enumerate(model)), num_warmup=300, num_samples=600, progress_bar=False)
    m.run(jax.random.key(1), x)
    draws = np.asarray(m.get_samples(group_by_chain=True)["mu"])
    ess = float(effective_sample_size(draws))
    mcse = sd / np.sqrt(ess)
    assert abs(draws.mean() - want) < 4 * mcse, (draws.mean(), want, mcse)
    assert "z" not in m.get_samples()


def test_nuts_on_an_enumerated_model_compiles_once_for_new_data():
    def model(x):
        mu = sample("mu", D.Normal(0.0, 3.0))
        with plate("n", x.shape[0]):
            z = sample("z", D.Bernoulli(probs=0.6))
            with allow:
                sample("x", D.Normal(mu + 3.0 * f64(z), 1.0), obs=x)

    model = config_enumerate(model)
    x = jnp.linspace(-2.0, 3.0, 7)

    def fit(k, data):
        m = MCMC(NUTS(model), num_warmup=20, num_samples=20, progress_bar=False)
        m.run(jax.random.key(k), data)

    from tests.inference.test_mcmc import _count_compiles

    assert len(_count_compiles(lambda: fit(0, x))) > 0
    x2 = x + 1.0
    assert _count_compiles(lambda: fit(1, x2)) == []


def test_log_density_sums_out_the_enumerated_sites():
    from inference import log_density

    lp, z_shape = jax.jit(
        lambda: (lambda out: (out[0], out[1]["z"].value))(
            log_density(config_enumerate(mixture), (), {}, {})
        )
    )()
    np.testing.assert_allclose(float(lp), float(jax.jit(_mixture_brute)()), atol=1e-10)
    assert z_shape.shape == (3, 1)
    # Given values, the sites are not enumerated: the plain log joint.
    data = {"z": jnp.array(1), "w": jnp.array([0.0, 1.0, 0.0])}
    lp, _ = log_density(config_enumerate(mixture), (), {}, data)
    _, (tr,) = run(condition(mixture, data), trace())()
    np.testing.assert_allclose(float(lp), float(tr.log_prob_sum()), atol=1e-12)


def test_predictive_with_infer_discrete_draws_the_exact_conditional():
    """Predictive(infer_discrete=True) on fixed draws of the continuous site: the draws
    of z follow p(z | mu, x) (each point's probability within 5 binomial sd over 2000
    draws; the false-alarm rate per point is below 1e-6)."""
    from inference import Predictive

    x = jnp.array([-1.0, 0.2, 1.0, 2.5])

    def model(x):
        mu = sample("mu", D.Normal(0.0, 3.0))
        with plate("n", x.shape[0]):
            z = sample("z", D.Bernoulli(probs=0.6))
            with allow:
                sample("x", D.Normal(mu + 3.0 * f64(z) - 1.0, 1.0), obs=x)

    n = 2000
    samples = {"mu": jnp.full((n,), 0.3)}
    pred = Predictive(config_enumerate(model), samples, infer_discrete=True)
    z = np.asarray(pred(jax.random.key(0), x)["z"])
    assert z.shape == (n, 4)
    l1 = np.log(0.6) + stats.norm.logpdf(np.asarray(x), 0.3 + 2.0, 1.0)
    l0 = np.log(0.4) + stats.norm.logpdf(np.asarray(x), 0.3 - 1.0, 1.0)
    p = 1.0 / (1.0 + np.exp(l0 - l1))
    sd = np.sqrt(p * (1 - p) / n)
    assert np.all(np.abs(z.mean(0) - p) < 5 * sd + 1e-12), (z.mean(0), p)


def _local_mixture(x):
    with plate("n", 4, subsample_size=2) as idx:
        z = sample("z", D.Categorical(probs=P_Z))
        sample("x", D.Normal(LOCS[z], 1.0), obs=x[idx])


def test_a_subsampled_plate_scales_the_sum_over_its_local_variable_not_its_terms():
    # s log sum_z p(x, z), not log sum_z p(x, z)^s: the scale N/B multiplies each data
    # point's marginal (an unbiased estimate of the full log marginal).
    x = jnp.array([0.3, 1.9, -0.7, 2.4])

    def lp(x):
        pipe = seed(jax.random.key(3)) >> enum(first_available_dim=-2) >> factors() >> trace()
        _, (_, _, fs, tr) = run(config_enumerate(_local_mixture), pipe)(x)
        return contract_factors(fs, 1), tr["n"].value

    got, idx = jax.jit(lp)(x)
    per_point = logsumexp(np.log(P_Z)[:, None] + stats.norm.logpdf(x[None, :], LOCS[:, None]), 0)
    np.testing.assert_allclose(got, 2.0 * per_point[np.asarray(idx)].sum(), rtol=1e-10)


def test_a_global_variable_feeding_a_scaled_plate_is_refused_naming_the_sites():
    def model():
        z = sample("z", D.Categorical(probs=P_Z))
        with handlers.scale(scale=2.0), plate("n", 3):
            sample("x", D.Normal(LOCS[z], 1.0), obs=X3)

    with pytest.raises(NotImplementedError, match=r"\['x', 'z'\].*share one scalar scale"):
        enumerated_lp(model, 1)


def test_a_masked_data_point_adds_nothing_to_the_enumerated_marginal():
    # The masked point's enumerated site and its child are both masked: the marginal is
    # the unmasked point's alone (a masked factor of 0 would add log K for the sum over
    # the K values of the masked site).
    def model(keep):
        with handlers.mask(mask=keep), plate("n", 2):
            z = sample("z", D.Categorical(probs=P_Z))
            sample("x", D.Normal(LOCS[z], 1.0), obs=X3[:2])

    got = enumerated_lp(model, 1, jnp.array([True, False]))
    want = logsumexp(np.log(P_Z) + stats.norm.logpdf(float(X3[0]), LOCS))
    np.testing.assert_allclose(got, want, rtol=1e-10)
    both = enumerated_lp(model, 1, jnp.array([True, True]))
    want_both = sum(logsumexp(np.log(P_Z) + stats.norm.logpdf(float(x), LOCS)) for x in X3[:2])
    np.testing.assert_allclose(both, want_both, rtol=1e-10)
