"""Handlers and pipelines are pytrees, and the runner is a pure function: jit, vmap, grad,
pmap, scan and threads see through them (DESIGN "The one idea")."""

import threading

import jax
import jax.numpy as jnp
import numpy as np
from scipy.stats import norm

import dists as D
from effects import current_frame, plate, run, sample, scan
from handlers import condition, scale, seed, substitute, trace

N, P = 5, 3
X = jnp.linspace(-1.0, 1.0, N * P).reshape(N, P)
Y = jnp.array([0.5, -0.3, 1.2, 0.0, 2.0])


def regression(x, y=None):
    w = sample("w", D.Normal(0.0, 1.0).expand((x.shape[-1],)).to_event(1))
    with plate("data", x.shape[0]):
        return sample("y", D.Normal(x @ w, 1.0), obs=y)


def test_jit_with_pipeline_arguments_does_not_retrace_on_new_leaves():
    n_traces = 0

    def f(pipeline, x):
        nonlocal n_traces
        n_traces += 1  # runs only while tracing
        value, outputs = run(regression, pipeline)(x)
        return value, outputs[-1]

    jf = jax.jit(f)
    k1, k2 = jax.random.split(jax.random.key(0))
    p1 = seed(k1) >> condition(data={"y": Y}) >> trace()
    p2 = seed(k2) >> condition(data={"y": 2.0 * Y}) >> trace()
    _, tr1 = jf(p1, X)
    v2, tr2 = jf(p2, X + 1.0)
    _, tr3 = jf(p1, X + 2.0)
    assert n_traces == 1
    # The compiled results are the eager ones, and follow the new leaves.
    v_eager, (_, _, tr_eager) = run(regression, p2)(X + 1.0)
    np.testing.assert_allclose(v2, 2.0 * Y)
    np.testing.assert_allclose(tr2["w"].value, tr_eager["w"].value, rtol=1e-12)
    np.testing.assert_allclose(tr2.log_prob_sum(), tr_eager.log_prob_sum(), rtol=1e-12)
    assert not np.allclose(tr1["w"].value, tr2["w"].value)
    np.testing.assert_array_equal(tr1["w"].value, tr3["w"].value)  # site-addressed seed
    # A new pipeline *structure* is a new program, so it does trace again.
    jf(seed(k1) >> trace(), X)
    assert n_traces == 2


def test_vmap_over_a_batch_of_seeds_gives_prior_draws():
    n = 4000
    keys = jax.random.split(jax.random.key(1), n)
    draw = jax.vmap(lambda k: run(regression, seed(k) >> trace())(X)[1][-1]["w"].value)
    draws = jax.jit(draw)(keys)  # compiled, so the test stays quick
    assert draws.shape == (n, P)
    assert len(np.unique(np.asarray(draws[:, 0]))) == n
    # Prior N(0, 1): mean and variance within 4 Monte Carlo standard errors.
    assert np.all(np.abs(np.asarray(draws.mean(0))) < 4.0 / np.sqrt(n))
    assert np.all(np.abs(np.asarray(draws.var(0)) - 1.0) < 4.0 * np.sqrt(2.0 / n))
    # Each batch member is exactly the unbatched run with that key.
    one = run(regression, seed(keys[7]) >> trace())(X)[1][-1]["w"].value
    np.testing.assert_allclose(draws[7], one, rtol=1e-12)


def test_grad_with_respect_to_substituted_values():
    def log_density(w):
        pipeline = substitute(data={"w": w}) >> trace()
        return run(regression, pipeline)(X, Y)[1][-1].log_prob_sum()

    w = jnp.array([0.3, -0.7, 1.1])
    x, y, wn = np.asarray(X), np.asarray(Y), np.asarray(w)
    expected = norm.logpdf(wn).sum() + norm.logpdf(y, x @ wn, 1.0).sum()
    np.testing.assert_allclose(log_density(w), expected, rtol=1e-12)
    analytic = -wn + x.T @ (y - x @ wn)
    np.testing.assert_allclose(jax.grad(log_density)(w), analytic, rtol=1e-10)
    np.testing.assert_allclose(jax.jit(jax.grad(log_density))(w), analytic, rtol=1e-10)


def test_pmap_over_two_host_devices():
    assert jax.device_count() >= 2
    keys = jax.random.split(jax.random.key(2), 2)
    draws = jax.pmap(lambda k: run(regression, seed(k) >> trace())(X)[1][-1]["w"].value)(keys)
    assert draws.shape == (2, P)
    for i in range(2):
        serial = run(regression, seed(keys[i]) >> trace())(X)[1][-1]["w"].value
        np.testing.assert_allclose(draws[i], serial, rtol=1e-12)
    assert not np.allclose(draws[0], draws[1])


def walk():
    def body(z, _):
        z = sample("z", D.Normal(z, 1.0))
        return z, z

    return scan(body, jnp.zeros(()), None, length=4)[1]


def test_no_tracer_leaks():
    keys = jax.random.split(jax.random.key(3), 3)
    with jax.check_tracer_leaks(True):
        jf = jax.jit(lambda p, x: run(regression, p)(x)[1][-1].log_prob_sum())
        lp = jf(seed(keys[0]) >> condition(data={"y": Y}) >> trace(), X)
        draws = jax.vmap(lambda k: run(walk, seed(k) >> scale(scale=2.0) >> trace())()[0])(keys)
        zs = jax.jit(lambda k: run(walk, seed(k) >> trace())()[0])(keys[0])
    assert jnp.isfinite(lp) and draws.shape == (3, 4) and zs.shape == (4,)
    np.testing.assert_allclose(draws[0], zs, rtol=1e-12)
    assert current_frame() is None  # nothing is left behind in the ambient state


def test_threads_run_independent_pipelines_concurrently():
    n_iter = 15
    barrier = threading.Barrier(2, timeout=30)

    class NoBarrier:
        def wait(self):
            pass

    def make_model(sync):
        def model():
            sync.wait()  # both threads are inside a run here...
            a = sample("a", D.Normal(0.0, 1.0))
            sync.wait()  # ...and here, with different pipelines in force
            b = sample("b", D.Normal(a, 1.0))
            return a + b

        return model

    pipelines = [
        lambda i: seed(jax.random.fold_in(jax.random.key(10), i)) >> trace(),
        lambda i: (
            seed(jax.random.fold_in(jax.random.key(20), i))
            >> condition(data={"a": float(i)})
            >> scale(scale=3.0)
            >> trace()
        ),
    ]

    def summary(value, tr):
        return (
            list(tr),
            bool(tr["a"].is_observed),
            float(tr["a"].value),
            float(tr["b"].value),
            float(value),
            float(tr.log_prob_sum()),
        )

    def serial(j):
        out = []
        for i in range(n_iter):
            value, outputs = run(make_model(NoBarrier()), pipelines[j](i))()
            out.append(summary(value, outputs[-1]))
        return out

    expected = [serial(0), serial(1)]
    results = [None, None]
    errors = []

    def worker(j):
        try:
            out = []
            for i in range(n_iter):
                value, outputs = run(make_model(barrier), pipelines[j](i))()
                out.append(summary(value, outputs[-1]))
            results[j] = out
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)
            barrier.abort()

    threads = [threading.Thread(target=worker, args=(j,)) for j in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert results == expected
    # The pipelines really differ: thread 1 conditions `a` and scales the density.
    assert expected[1][4][1] and expected[1][4][2] == 4.0 and not expected[0][4][1]
