"""The enumeration examples run as a user runs them, at small sizes."""

import runpy
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from inference import MCMC, NUTS

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_gmm_example_recovers_the_assignments(monkeypatch, capsys):
    argv = ["gmm.py", "--n", "60", "--warmup", "150", "--samples", "150"]
    monkeypatch.setattr(sys, "argv", argv)
    out = runpy.run_path(str(EXAMPLES / "gmm.py"), run_name="gmm_example")["main"]()
    printed = capsys.readouterr().out
    assert "locs[1]" in printed and "MAP assignments agree" in printed
    # Well-separated components (-1 and 4, unit scale): nearly every point is assigned
    # as simulated.
    assert out["agree"] > 0.9
    assert np.all((out["p_second"] >= 0) & (out["p_second"] <= 1))


def _hmm():
    return runpy.run_path(str(EXAMPLES / "hmm.py"), run_name="hmm_example")


def _params(model, data, lengths, key):
    from inference import model_spec

    shapes = model_spec(model, data, lengths, 2).unconstrained_shapes
    keys = jax.random.split(key, len(shapes))
    return {n: jax.random.normal(k, s) for k, (n, s) in zip(keys, sorted(shapes.items()))}


def test_hmm_model_1_enumerated_equals_its_hand_written_forward_algorithm():
    from inference._log_density import potential_energy

    ex = _hmm()
    data, lengths = ex["synthetic"](3, 7, 2, 2, 0, 1)
    u = _params(ex["model_1"], data, lengths, jax.random.key(3))
    args = (data, lengths, 2)

    def pe(name, **kw):
        return jax.jit(jax.value_and_grad(lambda u: potential_energy(ex[name], args, kw, u)))(u)

    want, g_want = pe("model_1_forward")
    # A masked step's hidden state has log density 0 at each of its K values, so
    # summing it out adds log K per masked (sequence, step): a constant, as in Pyro and
    # NumPyro; the hand-written forward pass skips those steps instead.
    masked = int(np.sum(np.arange(7)[None, :] >= np.asarray(lengths)[:, None]))
    # (The markov form of the example is checked against brute force with model 2.)
    for name, kw in [("model_1", {"contraction": c}) for c in ("parallel", "sequential")]:
        got, g_got = pe(name, **kw)
        np.testing.assert_allclose(float(got) + masked * np.log(2.0), float(want), atol=1e-9)
        for k in u:
            np.testing.assert_allclose(g_got[k], g_want[k], rtol=0, atol=1e-9)


def test_hmm_model_2_enumerated_equals_brute_force():
    import itertools

    from effects import run
    from handlers import condition, substitute, trace
    from inference._log_density import ToSupport, constrain_fn, potential_energy

    ex = _hmm()
    data, lengths = ex["synthetic"](1, 3, 2, 2, 1, 2)
    args = (data, lengths, 2)
    u = _params(ex["model_2"], data, lengths, jax.random.key(4))
    values = constrain_fn(ex["model_2"], args, {}, u)
    paths = jnp.array(list(itertools.product(range(2), repeat=3)))

    # Brute force on the Python-loop form, one site per step, every path conditioned
    # (one vectorised program over the paths).
    def joint(path):
        data_x = {f"x_{t}": jnp.full((1, 1), path[t]) for t in range(3)}
        model = condition(substitute(ex["model_2_markov"], data=values), data_x)
        _, (tr,) = run(model, trace())(*args)
        return tr.log_prob_sum()

    lps = jax.jit(jax.vmap(joint))(paths)
    # the log-Jacobian of the continuous sites is in the potential; take it out
    zeros = {f"x_{t}": jnp.zeros((1, 1), jnp.int32) for t in range(3)}
    _, (log_det, _) = run(ex["model_2_markov"], ToSupport(u) >> condition(data=zeros))(*args)
    want = jax.nn.logsumexp(lps) + log_det
    got = -jax.jit(lambda u: potential_energy(ex["model_2"], args, {}, u))(u)
    np.testing.assert_allclose(float(got), float(want), rtol=0, atol=1e-9)


def test_hmm_example_runs_and_decodes(monkeypatch, capsys):
    ex = _hmm()
    argv = ["--model", "2", "--length", "6", "--warmup", "10", "--samples", "10"]
    ex["main"](argv)
    printed = capsys.readouterr().out
    assert "probs_x[0,0]" in printed
    import ast

    path = ast.literal_eval(printed.split("most likely hidden states of sequence 0:")[1].strip())
    assert len(path) == 6  # one state per step, each in range
    assert all(0 <= v < 3 for v in path)


@pytest.mark.slow
def test_hmm_nuts_posterior_matches_the_hand_written_forward_model():
    """NUTS on model 1 with enumerated states and on the same model with a hand-written
    forward algorithm: the posterior means of the transition and emission probabilities
    agree within 4 combined Monte Carlo standard errors."""
    from inference import effective_sample_size

    ex = _hmm()
    data, lengths = ex["synthetic"](4, 15, 2, 2, 0, 1)
    out = []
    # Independent chains for the two models (one key each): the bound assumes them, and
    # with one key the two samplers' draws nearly coincide, which would hide a difference.
    for seed, name in ((11, "model_1"), (12, "model_1_forward")):
        m = MCMC(
            NUTS(ex[name]),
            num_warmup=200,
            num_samples=500,
            num_chains=2,
            chain_method="sequential",
            progress_bar=False,
        )
        m.run(jax.random.key(seed), data, lengths, 2)
        out.append(m.get_samples(group_by_chain=True))
    for site in ("probs_x", "probs_y"):
        a, b = (np.asarray(o[site]).reshape(2, 500, -1) for o in out)
        for j in range(a.shape[-1]):
            se = [
                x[..., j].std() / np.sqrt(float(effective_sample_size(x[..., j]))) for x in (a, b)
            ]
            assert abs(a[..., j].mean() - b[..., j].mean()) < 4 * np.hypot(*se), (site, j)
