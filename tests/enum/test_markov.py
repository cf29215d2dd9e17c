"""markov: dims recycled along a Python loop; the contraction and infer_discrete on
long chains against a hand-written forward algorithm and Viterbi (float64)."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import logsumexp

import dists as D
from dists.util import vindex
from effects import plate, run, sample
from handlers import condition, config_enumerate, enum, factors, markov, trace
from inference import contract_factors, infer_discrete

TRANS = jnp.array([[0.8, 0.15, 0.05], [0.1, 0.7, 0.2], [0.25, 0.25, 0.5]])
LOCS = jnp.array([-1.0, 0.5, 2.0])


def hmm(ys, history=1):
    x = jnp.array(0)
    for t in markov(range(ys.shape[0]), history=history):
        x = sample(f"x{t}", D.Categorical(probs=vindex(TRANS, (x,))))
        sample(f"y{t}", D.Normal(LOCS[x], 1.0), obs=ys[t])


def forward(ys):
    """The hand-written forward algorithm in NumPy."""
    lt = np.log(np.asarray(TRANS))
    alpha = lt[0].copy()
    emit = lambda y: -0.5 * (y - np.asarray(LOCS)) ** 2 - 0.5 * np.log(2 * np.pi)  # noqa: E731
    alpha = alpha + emit(float(ys[0]))
    for y in ys[1:]:
        alpha = logsumexp(alpha[:, None] + lt, axis=0) + emit(float(y))
    return logsumexp(alpha)


def viterbi(ys):
    lt = np.log(np.asarray(TRANS))
    emit = lambda y: -0.5 * (y - np.asarray(LOCS)) ** 2  # noqa: E731
    delta = lt[0] + emit(float(ys[0]))
    back = []
    for y in ys[1:]:
        s = delta[:, None] + lt
        back.append(np.argmax(s, axis=0))
        delta = s.max(0) + emit(float(y))
    path = [int(np.argmax(delta))]
    for b in reversed(back):
        path.append(int(b[path[-1]]))
    return path[::-1]


def enumerated_lp(model, m, *args):
    """The contracted log density, compiled (``args``: arrays)."""

    def lp(*args):
        pipe = enum(first_available_dim=-m - 1) >> factors()
        _, (_, fs) = run(config_enumerate(model), pipe)(*args)
        return contract_factors(fs, m)

    return jax.jit(lp)(*args)


def test_markov_recycles_dims():
    ys = jnp.linspace(-1.0, 2.0, 6)
    _, (_, tr) = run(config_enumerate(hmm), enum(first_available_dim=-1) >> trace())(ys)
    assert [tr[f"x{t}"].value.ndim for t in range(6)] == [1, 2, 1, 2, 1, 2]
    _, (_, tr) = run(config_enumerate(hmm), enum(first_available_dim=-1) >> trace())(ys, 2)
    assert [tr[f"x{t}"].value.ndim for t in range(6)] == [1, 2, 3, 1, 2, 3]


def test_markov_chain_equals_full_enumeration_on_a_short_chain():
    ys = jnp.array([0.3, 1.9, -0.7, 0.4])
    paths = jnp.array(list(itertools.product(range(3), repeat=4)))

    def joint(path):
        data = {f"x{t}": path[t] for t in range(4)}
        _, (tr,) = run(condition(hmm, data), trace())(ys)
        return tr.log_prob_sum()

    lps = np.asarray(jax.jit(jax.vmap(joint))(paths))  # every path, one program
    got = enumerated_lp(hmm, 0, ys)
    np.testing.assert_allclose(float(got), logsumexp(lps), atol=1e-10)


def test_a_long_chain_matches_the_forward_algorithm_and_viterbi():
    ys = jax.random.normal(jax.random.key(0), (40,)) * 1.5
    # Eager: a 40-step Python loop compiles slower than it runs op by op.
    _, (_, fs) = run(config_enumerate(hmm), enum(first_available_dim=-1) >> factors())(ys)
    np.testing.assert_allclose(float(contract_factors(fs, 0)), forward(np.asarray(ys)), atol=1e-9)
    tr = trace(infer_discrete(config_enumerate(hmm), temperature=0)).get_trace(ys)
    assert [int(tr[f"x{t}"].value) for t in range(40)] == viterbi(np.asarray(ys))


def test_markov_in_a_plate_of_sequences():
    """NumPyro's HMM model 1 shape: sequences in a plate at dim -2, tones at dim -1."""
    ys = jax.random.bernoulli(jax.random.key(1), 0.4, (2, 5, 3)).astype(jnp.float64)
    probs_y = jnp.array([[0.1, 0.7, 0.3], [0.6, 0.2, 0.5], [0.9, 0.4, 0.2]])

    def model(ys):
        with plate("seq", ys.shape[0], dim=-2):
            x = jnp.array(0)
            for t in markov(range(ys.shape[1])):
                x = sample(f"x{t}", D.Categorical(probs=vindex(TRANS, (x,))))
                with plate("tones", ys.shape[2], dim=-1):
                    # x is (..., 1) (its dim -1 is the tones plate): drop it, as
                    # NumPyro's model 1 does, so the tones axis of probs_y lands there.
                    p = probs_y[jnp.squeeze(x, -1)]
                    sample(f"y{t}", D.Bernoulli(probs=p), obs=ys[:, t])

    got = enumerated_lp(model, 2, ys)
    want = 0.0
    for s in range(2):
        lt = np.log(np.asarray(TRANS))
        py = np.asarray(probs_y)
        yy = np.asarray(ys[s])
        emit = lambda y: (y * np.log(py) + (1 - y) * np.log(1 - py)).sum(-1)  # noqa: E731
        alpha = lt[0] + emit(yy[0])
        for y in yy[1:]:
            alpha = logsumexp(alpha[:, None] + lt, axis=0) + emit(y)
        want += logsumexp(alpha)
    np.testing.assert_allclose(float(got), want, atol=1e-10)


def test_markov_refuses_the_context_form():
    with pytest.raises(NotImplementedError, match="iterator only"):
        markov()
