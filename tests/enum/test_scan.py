"""Enumeration inside the effect-aware ``scan``: the contracted log density against
brute force over every path, a Python loop under ``markov`` and a hand-written forward
algorithm (float64, gradients too); the parallel and sequential contractions; Viterbi
against the brute-force argmax; forward-filter backward-sample against the exact
posterior (chi-square); dims recycled on long chains; the errors."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

import dists as D
from dists.util import vindex
from effects import plate, run, sample, scan
from handlers import config_enumerate, enum, factors, markov, trace
from inference import contract_factors, infer_discrete

TRANS = jnp.array([[0.8, 0.15, 0.05], [0.1, 0.7, 0.2], [0.25, 0.25, 0.5]])
LOCS = jnp.array([-1.0, 0.5, 2.0])
# A two-state chain (the rows of TRANS's corner, normalised).
TRANS_2 = TRANS[:2, :2] / jnp.sum(TRANS[:2, :2], axis=1, keepdims=True)
# Second-order transitions p(x_t | x_{t-2}, x_{t-1}), K = 2.
TRANS2 = jnp.array([[[0.9, 0.1], [0.4, 0.6]], [[0.3, 0.7], [0.2, 0.8]]])
allow = jax.numpy_rank_promotion("allow")


def hmm(ys, trans=TRANS, locs=LOCS, how="auto"):
    def step(x, y):
        x = sample("x", D.Categorical(probs=vindex(trans, (x,))))
        sample("y", D.Normal(locs[x], 1.0), obs=y)
        return x, None

    scan(step, jnp.array(0), ys, contraction=how)


def hmm_markov(ys, trans=TRANS, locs=LOCS):
    x = jnp.array(0)
    for t in markov(range(ys.shape[0])):
        x = sample(f"x{t}", D.Categorical(probs=vindex(trans, (x,))))
        sample(f"y{t}", D.Normal(locs[x], 1.0), obs=ys[t])


def hmm2(ys, trans2=TRANS2, locs=LOCS[:2], how="auto"):
    def step(carry, y):
        x2, x1 = carry  # x_{t-2}, x_{t-1}
        x = sample("x", D.Categorical(probs=vindex(trans2, (x2, x1))))
        sample("y", D.Normal(locs[x], 1.0), obs=y)
        return (x1, x), None

    scan(step, (jnp.array(0), jnp.array(0)), ys, history=2, contraction=how)


def compiled(f, *args):
    """``f(*args)`` compiled, the JAX arrays among ``args`` traced and the rest fixed
    (the eager contraction dispatches many small ops)."""
    arrays = [a for a in args if isinstance(a, jax.Array)]

    def g(*arrs):
        it = iter(arrs)
        return f(*(next(it) if isinstance(a, jax.Array) else a for a in args))

    return jax.jit(g)(*arrays)


def lp_raw(model, m, *args, **kwargs):
    pipe = enum(first_available_dim=-m - 1) >> factors()
    _, (_, fs) = run(config_enumerate(model), pipe)(*args, **kwargs)
    return contract_factors(fs, m)


def lp_of(model, m, *args, **kwargs):
    return compiled(lambda *a: lp_raw(model, m, *a, **kwargs), *args)


def brute(ys, trans, locs):
    """log p(ys) summed over every path of a first-order chain from x_{-1} = 0 (all
    K^T paths at once), the paths, and each path's log p(path, ys)."""
    k, t = trans.shape[0], ys.shape[0]
    paths = list(itertools.product(range(k), repeat=t))
    xs = np.array(paths)  # (P, T)
    prev = np.concatenate([np.zeros((len(paths), 1), dtype=int), xs[:, :-1]], axis=1)
    lps = jnp.sum(
        jnp.log(trans[prev, xs]) + jax.scipy.stats.norm.logpdf(ys[None, :], locs[xs], 1.0),
        axis=1,
    )
    return jax.nn.logsumexp(lps), paths, lps


def forward_np(ys, trans, locs):
    """The forward algorithm, by hand in NumPy."""
    lt = np.log(np.asarray(trans))

    def emit(y):
        return -0.5 * (y - np.asarray(locs)) ** 2 - 0.5 * np.log(2 * np.pi)

    alpha = lt[0] + emit(float(ys[0]))
    for y in np.asarray(ys)[1:]:
        alpha = logsumexp(alpha[:, None] + lt, axis=0) + emit(float(y))
    return logsumexp(alpha)


YS = jnp.array([0.3, 1.9, -0.7, 0.4, 1.2])


def test_scan_enumeration_equals_brute_force_markov_and_forward_with_gradient():
    def want(trans, locs):
        return brute(YS, trans, locs)[0]

    def loop(trans, locs):
        return lp_of(hmm_markov, 0, YS, trans, locs)

    vb, gb = jax.jit(jax.value_and_grad(want, argnums=(0, 1)))(TRANS, LOCS)
    vm, gm = jax.value_and_grad(loop, argnums=(0, 1))(TRANS, LOCS)
    np.testing.assert_allclose(float(vm), float(vb), rtol=0, atol=1e-9)
    np.testing.assert_allclose(float(vb), forward_np(YS, TRANS, LOCS), rtol=0, atol=1e-9)
    for how in ("parallel", "sequential"):
        v, g = jax.value_and_grad(
            lambda trans, locs: lp_of(hmm, 0, YS, trans, locs, how), argnums=(0, 1)
        )(TRANS, LOCS)
        np.testing.assert_allclose(float(v), float(vb), rtol=0, atol=1e-9)
        for a, b, c in zip(g, gb, gm):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)
            np.testing.assert_allclose(a, c, rtol=0, atol=1e-9)


def test_history_two_equals_brute_force_with_gradient():
    ys = YS[:4]

    def brute2(trans2, locs):
        xs = np.array(list(itertools.product(range(2), repeat=ys.shape[0])))
        pad = np.concatenate([np.zeros((xs.shape[0], 2), dtype=int), xs], axis=1)
        lt = jnp.log(trans2[pad[:, :-2], pad[:, 1:-1], xs])
        emit = jax.scipy.stats.norm.logpdf(ys[None, :], locs[xs], 1.0)
        return jax.nn.logsumexp(jnp.sum(lt + emit, axis=1))

    vb, gb = jax.jit(jax.value_and_grad(brute2, (0, 1)))(TRANS2, LOCS[:2])
    for how in ("parallel", "sequential"):
        v, g = jax.value_and_grad(lambda t, l: lp_of(hmm2, 0, ys, t, l, how), (0, 1))(
            TRANS2, LOCS[:2]
        )
        np.testing.assert_allclose(float(v), float(vb), rtol=0, atol=1e-9)
        for a, b in zip(g, gb):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)


def chains_with_a_global(ys, shift):
    """A global enumerated regime z shifts the emissions of N chains (a plate)."""
    n = ys.shape[1]
    z = sample("z", D.Bernoulli(probs=0.3))

    def step(x, y):
        with plate("n", n, dim=-1):
            x = sample("x", D.Categorical(probs=vindex(TRANS_2, (x,))))
            with allow:
                loc = LOCS[x] + shift * z.astype(jnp.float64)
            sample("y", D.Normal(loc, 1.0), obs=y)
        return x, None

    scan(step, jnp.zeros(n, dtype=int), ys)


def test_chains_in_a_plate_with_a_global_variable_equal_brute_force():
    ys = jnp.array([[0.1, 1.5], [-0.4, 2.0], [0.9, 0.3]])  # (T, N)
    trans = TRANS_2

    def want(shift):
        per_z = []
        for z, pz in ((0, 0.7), (1, 0.3)):
            locs = LOCS[:2] + shift * z
            chains = [brute(ys[:, i], trans, locs)[0] for i in range(ys.shape[1])]
            per_z.append(jnp.log(pz) + sum(chains))
        return jax.nn.logsumexp(jnp.stack(per_z))

    def got(shift):
        return lp_of(chains_with_a_global, 1, ys, shift)

    v, g = jax.value_and_grad(got)(0.8)
    vb, gb = jax.value_and_grad(want)(0.8)
    np.testing.assert_allclose(float(v), float(vb), rtol=0, atol=1e-9)
    np.testing.assert_allclose(float(g), float(gb), rtol=0, atol=1e-9)


def test_parallel_and_sequential_agree_on_random_chains():
    for seed in range(2):
        k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
        trans = jax.random.dirichlet(k1, jnp.ones(4), (4,))
        locs = jax.random.normal(k2, (4,))
        ys = jax.random.normal(k3, (37,)) * 2.0
        a = lp_of(hmm, 0, ys, trans, locs, "parallel")
        b = lp_of(hmm, 0, ys, trans, locs, "sequential")
        np.testing.assert_allclose(float(a), float(b), rtol=1e-12)
        np.testing.assert_allclose(float(a), forward_np(ys, trans, locs), rtol=1e-12)


def test_viterbi_is_the_brute_force_argmax():
    ys = jnp.array([0.3, 1.9, -0.7, 0.4, 2.2, 0.6])
    _, paths, lps = brute(ys, TRANS, LOCS)
    want = paths[int(jnp.argmax(lps))]
    model = infer_discrete(config_enumerate(hmm), temperature=0, first_available_dim=-1)

    @jax.jit
    def decoded(ys):
        out = []
        for how in ("parallel", "sequential"):
            _, (tr,) = run(model, trace())(ys, TRANS, LOCS, how)
            pipe = enum(first_available_dim=-1) >> factors()
            _, (_, fs) = run(config_enumerate(hmm), pipe)(ys, TRANS, LOCS, how)
            out.append((tr["x"].value, contract_factors(fs, 0, "max")))
        return out

    for path, top in decoded(ys):
        assert path.shape == (6,)
        assert tuple(int(v) for v in path) == want
        # the max of the log joint is the brute-force max
        np.testing.assert_allclose(float(top), float(lps.max()))


def test_ffbs_draws_follow_the_exact_posterior():
    """Chi-square test of 4000 joint draws of a 4-step, 2-state chain's 16 paths against
    the exact posterior (brute force). The seed is fixed; the false-alarm rate (p-value
    threshold) is 1e-4."""
    ys = jnp.array([0.2, 1.1, 0.9, -0.3])
    trans, locs = TRANS_2, jnp.array([0.0, 1.0])
    _, paths, lps = brute(ys, trans, locs)
    probs = np.exp(np.asarray(lps) - logsumexp(np.asarray(lps)))
    model = config_enumerate(hmm)

    def draw(k):
        m = infer_discrete(model, temperature=1, rng_key=k, first_available_dim=-1)
        _, (tr,) = run(m, trace())(ys, trans, locs)
        return tr["x"].value

    n = 4000
    xs = np.asarray(jax.jit(jax.vmap(draw))(jax.random.split(jax.random.key(7), n)))
    index = {p: i for i, p in enumerate(paths)}
    counts = np.zeros(len(paths))
    for row in xs:
        counts[index[tuple(int(v) for v in row)]] += 1
    _, pvalue = stats.chisquare(counts, n * probs)
    assert pvalue > 1e-4


def test_a_chain_of_1000_steps_recycles_its_dims():
    ys = jax.random.normal(jax.random.key(1), (1000,)) * 1.5
    _, (_, tr, fs) = run(
        config_enumerate(hmm), enum(first_available_dim=-1) >> trace() >> factors()
    )(ys)
    assert tr["x"].value.shape == (1000, 3)  # every step on the same dim
    assert dict(tr["x"].infer["dim_labels"]) == {-1: "x", -2: "_PREV_x"}
    np.testing.assert_allclose(
        float(contract_factors(fs, 0)), forward_np(ys, TRANS, LOCS), rtol=1e-12
    )


def test_dims_are_released_after_the_scan():
    def two(ys):
        hmm(ys)

        def step(x, y):
            x = sample("w", D.Categorical(probs=vindex(TRANS, (x,))))
            sample("v", D.Normal(LOCS[x], 1.0), obs=y)
            return x, None

        scan(step, jnp.array(0), ys)

    _, (_, tr) = run(config_enumerate(two), enum(first_available_dim=-1) >> trace())(YS)
    assert dict(tr["w"].infer["dim_labels"]) == {-1: "w", -2: "_PREV_w"}
    got = lp_of(two, 0, YS)
    np.testing.assert_allclose(float(got), 2 * forward_np(YS, TRANS, LOCS), atol=1e-9)


def test_compiled_size_does_not_grow_with_the_length():
    """The sequential contraction's program is the same for every length; the parallel
    one adds the same few operations per doubling (a round of the tree)."""

    def size(t, how):
        ys = jnp.zeros((t,))
        return len(jax.make_jaxpr(lambda y: lp_raw(hmm, 0, y, TRANS, LOCS, how))(ys).eqns)

    assert size(8, "sequential") == size(1024, "sequential")
    per_round = size(16, "parallel") - size(8, "parallel")
    assert size(1024, "parallel") == size(8, "parallel") + 7 * per_round


def test_errors_name_the_site():
    def backwards(ys):
        def step(x, y):
            x = sample("x", D.Categorical(probs=vindex(TRANS, (x,))))
            return x, None

        scan(step, jnp.array(0), ys, reverse=True)

    with pytest.raises(NotImplementedError, match="'x'"):
        lp_of(backwards, 0, YS)

    def too_long(ys):
        def step(carry, y):
            x1, _ = carry
            x = sample("x", D.Categorical(probs=vindex(TRANS, (x1,))))
            sample("y", D.Normal(LOCS[x], 1.0), obs=y)
            return (x, x1), None  # keeps x_{t-1}: history 2 needed

        scan(step, (jnp.array(0), jnp.array(0)), ys)

    with pytest.raises(ValueError, match="'x'.*history=1"):
        lp_of(too_long, 0, YS)

    def nested(ys):
        def outer(c, y):
            def inner(x, _):
                x = sample("x", D.Categorical(probs=vindex(TRANS, (x,))))
                return x, None

            return scan(inner, c, None, length=2)[0], None

        scan(outer, jnp.array(0), ys)

    with pytest.raises(NotImplementedError, match="'x'"):
        lp_of(nested, 0, YS)


def test_a_step_local_mixture_and_a_factor_site_in_the_body():
    """Each step's own mixture component (not carried), and a `factor` site that depends
    on it (its dims carry no labels: the contraction finds their owner): the log density
    is the sum over steps of each step's log-sum-exp."""
    from effects import factor

    w = jnp.array([0.25, 0.75])

    def model(ys):
        def step(c, y):
            z = sample("z", D.Categorical(probs=w))
            sample("y", D.Normal(LOCS[z], 1.0), obs=y)
            factor("bonus", 0.5 * z.astype(jnp.float64))
            return c, None

        scan(step, jnp.array(0.0), ys)

    got = lp_of(model, 0, YS)
    per_step = logsumexp(
        np.log(np.asarray(w))[None, :]
        + stats.norm.logpdf(np.asarray(YS)[:, None], np.asarray(LOCS[:2])[None, :], 1.0)
        + 0.5 * np.arange(2.0)[None, :],
        axis=1,
    )
    np.testing.assert_allclose(float(got), per_step.sum(), rtol=0, atol=1e-10)


def test_map_of_chains_with_a_global_variable_is_the_brute_force_argmax():
    """The global regime z and both chains' paths: the joint argmax over all 2 * 8 * 8
    assignments (the chains are decoded given the regime chosen for them)."""
    ys = jnp.array([[0.1, 1.5], [-0.4, 2.0], [0.9, 0.3]])
    trans = np.asarray(TRANS_2)
    shift = 2.5
    best = None
    for z, pz in ((0, 0.7), (1, 0.3)):
        locs = np.asarray(LOCS[:2]) + shift * z
        for p0 in itertools.product(range(2), repeat=3):
            for p1 in itertools.product(range(2), repeat=3):
                lp = np.log(pz)
                for i, path in enumerate((p0, p1)):
                    prev = 0
                    for t, x in enumerate(path):
                        lp += np.log(trans[prev, x]) + stats.norm.logpdf(ys[t, i], locs[x])
                        prev = x
                if best is None or lp > best[0]:
                    best = (lp, z, p0, p1)
    model = infer_discrete(
        config_enumerate(chains_with_a_global), temperature=0, first_available_dim=-2
    )
    _, (tr,) = run(model, trace())(ys, shift)
    assert int(tr["z"].value) == best[1]
    assert tr["x"].value.shape == (3, 2)
    np.testing.assert_array_equal(np.asarray(tr["x"].value).T, np.array([best[2], best[3]]))
