"""An enumerated ``scan`` whose carry is steady (the carry into every step after the first
is one and the same value, as in an HMM whose carry is the enumerated state) runs its
steps at once, vmapped over time, instead of in a ``lax.scan``. Checked here, in float64:
the steady path against the step-by-step path (the same model with a step counter in the
carry, which forces it) to 1e-10, value and gradient, for first- and second-order
chains, chains in a plate under a global variable, and a non-zero initial state; the
step-by-step path is kept where a continuous value flows through the carry, or where a
handler's carried state changes in the body (a continuous latent site per step), both
against hand-written forward passes."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import logsumexp
from scipy.stats import norm

import dists as D
from dists.util import vindex
from effects import plate, run, sample, scan
from handlers import config_enumerate, enum, factors
from inference import contract_factors
from inference._log_density import potential_energy

TRANS = jnp.array([[0.8, 0.15, 0.05], [0.1, 0.7, 0.2], [0.25, 0.25, 0.5]])
LOCS = jnp.array([-1.0, 0.5, 2.0])
TRANS2 = jnp.array([[[0.9, 0.1], [0.4, 0.6]], [[0.3, 0.7], [0.2, 0.8]]])
YS = jnp.array([0.3, 1.9, -0.7, 0.4, 1.2, -0.1])
allow = jax.numpy_rank_promotion("allow")


def hmm(ys, trans, locs, x0=0, counter=False):
    """A first-order HMM from x_{-1} = x0; with ``counter`` the carry also holds the step
    number, which flows from step to step (so the steps run one by one)."""

    def step(carry, y):
        x, t = carry
        x = sample("x", D.Categorical(probs=vindex(trans, (x,))))
        sample("y", D.Normal(locs[x], 1.0), obs=y)
        return (x, t + 1 if counter else t), None

    scan(step, (jnp.array(x0), jnp.array(0)), ys)


def hmm2(ys, trans2, locs, counter=False):
    def step(carry, y):
        x2, x1, t = carry
        x = sample("x", D.Categorical(probs=vindex(trans2, (x2, x1))))
        sample("y", D.Normal(locs[x], 1.0), obs=y)
        return (x1, x, t + 1 if counter else t), None

    scan(step, (jnp.array(0), jnp.array(0), jnp.array(0)), ys, history=2)


def chains(ys, trans, locs, shift, counter=False):
    """A global regime z shifts the emissions of two chains (a plate)."""
    n = ys.shape[1]
    z = sample("z", D.Bernoulli(probs=0.3))

    def step(carry, y):
        x, t = carry
        with plate("n", n, dim=-1):
            x = sample("x", D.Categorical(probs=vindex(trans, (x,))))
            with allow:
                loc = locs[x] + shift * z.astype(jnp.float64)
            sample("y", D.Normal(loc, 1.0), obs=y)
        return (x, t + 1 if counter else t), None

    scan(step, (jnp.zeros(n, dtype=int), jnp.array(0)), ys)


def lp(model, m, *args, **kwargs):
    pipe = enum(first_available_dim=-m - 1) >> factors()
    _, (_, fs) = run(config_enumerate(model), pipe)(*args, **kwargs)
    return contract_factors(fs, m)


def loops(model, m, ys, *args, **kwargs):
    """How many ``lax.scan``s in the log density's program step through the data ``ys``
    (the body's loop; the chain's contraction scans tables computed from them)."""
    jaxpr = jax.make_jaxpr(lambda ys, *a: lp(model, m, ys, *a, **kwargs))(ys, *args)
    data = jaxpr.jaxpr.invars[0]
    return sum(1 for e in jaxpr.jaxpr.eqns if e.primitive.name == "scan" and data in e.invars)


def both_paths(model, m, args, argnums, **kwargs):
    """Value and gradient by the steady path and by the step-by-step one."""
    out = []
    for counter in (False, True):

        def f(*a, counter=counter):
            return lp(model, m, *a, counter=counter, **kwargs)

        out.append(jax.jit(jax.value_and_grad(f, argnums=argnums))(*args))
    return out


def assert_same(a, b):
    (va, ga), (vb, gb) = a, b
    np.testing.assert_allclose(float(va), float(vb), rtol=0, atol=1e-10)
    for x, y in zip(ga, gb):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=0, atol=1e-10)


def forward_np(ys, trans, locs, x0=0, shift=None):
    lt = np.log(np.asarray(trans))
    locs = np.asarray(locs) if shift is None else np.asarray(locs) + shift
    alpha = lt[x0] + norm.logpdf(float(ys[0]), locs)
    for y in np.asarray(ys)[1:]:
        alpha = logsumexp(alpha[:, None] + lt, axis=0) + norm.logpdf(float(y), locs)
    return logsumexp(alpha)


def test_steady_path_runs_no_loop_over_the_body_and_equals_the_stepwise_path():
    args = (YS, TRANS, LOCS)
    assert loops(hmm, 0, *args) == 0
    assert loops(hmm, 0, *args, counter=True) == 1
    steady, stepwise = both_paths(hmm, 0, args, (1, 2))
    assert_same(steady, stepwise)
    np.testing.assert_allclose(float(steady[0]), forward_np(YS, TRANS, LOCS), rtol=0, atol=1e-10)


def test_a_nonzero_initial_state_is_used_at_the_first_step_only():
    steady, stepwise = both_paths(hmm, 0, (YS, TRANS, LOCS), (1, 2), x0=2)
    assert_same(steady, stepwise)
    np.testing.assert_allclose(
        float(steady[0]), forward_np(YS, TRANS, LOCS, x0=2), rtol=0, atol=1e-10
    )


def test_history_two_steady_equals_stepwise_and_brute_force():
    ys, locs = YS[:4], LOCS[:2]
    steady, stepwise = both_paths(hmm2, 0, (ys, TRANS2, locs), (1, 2))
    assert_same(steady, stepwise)
    total = []
    for path in itertools.product(range(2), repeat=4):
        pad = (0, 0) + path
        total.append(
            sum(
                np.log(float(TRANS2[pad[t], pad[t + 1], pad[t + 2]]))
                + norm.logpdf(float(ys[t]), float(locs[path[t]]))
                for t in range(4)
            )
        )
    np.testing.assert_allclose(float(steady[0]), logsumexp(total), rtol=0, atol=1e-10)


def test_chains_in_a_plate_under_a_global_variable():
    ys = jnp.array([[0.1, 1.5], [-0.4, 2.0], [0.9, 0.3], [1.1, -0.2]])
    trans = TRANS[:2, :2] / jnp.sum(TRANS[:2, :2], axis=1, keepdims=True)
    locs = LOCS[:2]
    steady, stepwise = both_paths(chains, 1, (ys, trans, locs, jnp.array(2.5)), (1, 2, 3))
    assert_same(steady, stepwise)
    want = logsumexp(
        [
            np.log(pz) + sum(forward_np(ys[:, i], trans, locs, shift=2.5 * z) for i in range(2))
            for z, pz in ((0, 0.7), (1, 0.3))
        ]
    )
    np.testing.assert_allclose(float(steady[0]), want, rtol=0, atol=1e-10)


def ar_hmm(ys, trans, locs, rho):
    """An HMM whose emission also leans on the running sum of the observations: a
    continuous value that flows through the carry."""

    def step(carry, y):
        x, s = carry
        x = sample("x", D.Categorical(probs=vindex(trans, (x,))))
        sample("y", D.Normal(locs[x] + rho * s, 1.0), obs=y)
        return (x, s + y), None

    scan(step, (jnp.array(0), jnp.zeros(())), ys)


def test_a_continuous_value_in_the_carry_keeps_the_stepwise_path():
    assert loops(ar_hmm, 0, YS, TRANS, LOCS, 0.3) == 1

    def want(trans, locs, rho):
        s = jnp.concatenate([jnp.zeros(1), jnp.cumsum(YS)[:-1]])
        emit = jax.scipy.stats.norm.logpdf(YS[:, None], locs[None, :] + rho * s[:, None])
        alpha = jnp.log(trans[0]) + emit[0]
        for t in range(1, YS.shape[0]):
            alpha = jax.nn.logsumexp(alpha[:, None] + jnp.log(trans), axis=0) + emit[t]
        return jax.nn.logsumexp(alpha)

    args = (TRANS, LOCS, jnp.array(0.3))
    got = jax.jit(jax.value_and_grad(lambda *a: lp(ar_hmm, 0, YS, *a), argnums=(0, 1, 2)))(*args)
    assert_same(got, jax.jit(jax.value_and_grad(want, argnums=(0, 1, 2)))(*args))


def switching(ys, latent=True):
    """A per-step continuous latent next to the enumerated state: the potential's
    ``ToSupport`` handler carries its log-Jacobian through the loop, so the steps run one
    by one (without ``latent``, the same HMM has a steady carry)."""
    locs = sample("locs", D.Normal(jnp.zeros(3), 5.0).to_event(1))

    def step(x, y):
        x = sample("x", D.Categorical(probs=vindex(TRANS, (x,))))
        z = sample("z", D.Normal(0.0, 1.0)) if latent else 0.0
        sample("y", D.Normal(locs[x] + z, 1.0), obs=y)
        return x, None

    scan(step, jnp.array(0), ys)


def test_a_latent_site_in_the_body_keeps_the_stepwise_path():
    u = {"locs": LOCS, "z": jnp.linspace(-0.5, 0.5, YS.shape[0])}

    def pe(u, ys=YS, latent=True):
        return potential_energy(config_enumerate(switching), (ys, latent), {}, u)

    def want(u):
        locs, z = u["locs"], u["z"]
        emit = jax.scipy.stats.norm.logpdf(YS[:, None], locs[None, :] + z[:, None])
        alpha = jnp.log(TRANS[0]) + emit[0]
        for t in range(1, YS.shape[0]):
            alpha = jax.nn.logsumexp(alpha[:, None] + jnp.log(TRANS), axis=0) + emit[t]
        prior = jnp.sum(jax.scipy.stats.norm.logpdf(locs, 0.0, 5.0))
        return -(jax.nn.logsumexp(alpha) + prior + jnp.sum(jax.scipy.stats.norm.logpdf(z)))

    def data_loops(latent):
        # The scans that step through the data: one more when the body runs step by step.
        uu = u if latent else {"locs": LOCS}
        jaxpr = jax.make_jaxpr(lambda ys: pe(uu, ys, latent))(YS)
        data = jaxpr.jaxpr.invars[0]
        return sum(1 for e in jaxpr.jaxpr.eqns if e.primitive.name == "scan" and data in e.invars)

    assert data_loops(True) == data_loops(False) + 1
    got = jax.jit(jax.value_and_grad(pe))(u)
    (vg, gg), (vw, gw) = got, jax.jit(jax.value_and_grad(want))(u)
    np.testing.assert_allclose(float(vg), float(vw), rtol=0, atol=1e-10)
    for k in u:
        np.testing.assert_allclose(np.asarray(gg[k]), np.asarray(gw[k]), rtol=0, atol=1e-10)
