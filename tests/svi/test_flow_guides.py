"""The flow guides' transforms, posteriors and medians against the guides' own draws,
with ``jax.jacobian`` as the oracle for the log-determinants (float64). Each guide's
checks run in one compiled program (eager flows dispatch hundreds of small ops)."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dists as D
from effects import Param, run, sample
from handlers import seed, substitute, trace
from inference import AutoBNAFNormal, AutoIAFNormal, FlowTransform
from inference._elbo import ParamValues


def model():
    sample("s", D.Gamma(2.0, 1.0))
    sample("a", D.Normal(jnp.zeros(2), 1.0).to_event(1))


def _guide(cls):
    small = {"hidden_dims": (6,)} if cls is AutoIAFNormal else {"hidden_factors": (3,)}
    return cls(model, num_flows=2, **small)


def _params(guide):
    """The guide's initial params, moved at random so that the flows are far from any
    identity map."""

    @jax.jit
    def init(key):
        _, (_, tr) = run(guide, seed(key) >> trace())()
        params = {n: s.value for n, s in tr.items() if isinstance(s, Param)}
        leaves, tree = jax.tree.flatten(params)
        keys = jax.random.split(jax.random.key(1), len(leaves))
        moved = [x + 0.3 * jax.random.normal(k, x.shape, x.dtype) for x, k in zip(leaves, keys)]
        return jax.tree.unflatten(tree, moved)

    return init(jax.random.key(0))


@pytest.mark.parametrize("cls", [AutoIAFNormal, AutoBNAFNormal])
def test_transform_posterior_and_median_are_the_guides_own(cls):
    guide = _guide(cls)
    params = _params(guide)
    es = jax.random.normal(jax.random.key(3), (4, 2, 3))
    iaf = cls is AutoIAFNormal

    @eqx.filter_jit
    def go(params):
        t = guide.get_transform(params)
        # One draw of the guide: its noise e, its vector u, and its log density of u.
        _, (_, _, tr) = run(guide, ParamValues(params) >> seed(jax.random.key(2)) >> trace())()
        e, u = tr["_auto_base"].value, tr["_auto_latent"].value
        out = {
            "transform": t,
            "posterior": guide.get_posterior(params),
            "e": e,
            "u": u,
            "t(e)": t(e),
            "log_det": t.log_abs_det_jacobian(e, u),
            "jac_log_det": jnp.linalg.slogdet(jax.jacobian(t)(e))[1],
            "log_q": tr["_auto_base"].log_prob() + tr["_auto_latent"].log_prob(),
            "t(es)": t(es),
            "t(es[1, 0])": t(es[1, 0]),
            "log_det(es)": t.log_abs_det_jacobian(es, t(es)),
            "median": guide.median(params),
            "posterior draws": guide.get_posterior(params).sample(jax.random.key(5), (7,)),
        }
        # The guide run with its noise fixed at zero, for the median.
        pipe = substitute({"_auto_base": jnp.zeros(3)}) >> ParamValues(params)
        _, (_, _, _, tr0) = run(guide, pipe >> seed(jax.random.key(0)) >> trace())()
        out["at zero noise"] = {"s": tr0["s"].value, "a": tr0["a"].value}
        if iaf:
            out["inv(t(es))"] = t.inv(t(es))
            out["posterior log_prob"] = out["posterior"].log_prob(u)
        return out

    out = go(params)
    assert isinstance(out["transform"], FlowTransform)
    assert isinstance(out["posterior"], D.TransformedDistribution)
    assert out["posterior"].event_shape == (3,)
    np.testing.assert_allclose(out["t(e)"], out["u"], atol=1e-10)
    np.testing.assert_allclose(out["log_det"], out["jac_log_det"], atol=1e-8)
    base = D.Normal(jnp.zeros(3), 1.0).to_event(1)
    # The guide's density of u is the base density less the log-det.
    np.testing.assert_allclose(
        out["log_q"], base.log_prob(out["e"]) - out["jac_log_det"], atol=1e-8
    )
    # Batched: a (4, 2) batch of noise vectors maps vector by vector.
    np.testing.assert_allclose(out["t(es)"][1, 0], out["t(es[1, 0])"], atol=1e-12)
    assert out["log_det(es)"].shape == (4, 2)
    # The median is the guide's value at zero noise, constrained to the support.
    for name in ("s", "a"):
        np.testing.assert_allclose(out["median"][name], out["at zero noise"][name], atol=1e-10)
    assert float(out["median"]["s"]) > 0
    draws = out["posterior draws"]
    assert draws.shape == (7, 3) and bool(jnp.all(jnp.isfinite(draws)))
    if iaf:
        np.testing.assert_allclose(out["inv(t(es))"], es, atol=1e-8)
        # The posterior's density of the guide's draw (through the inverse) is the guide's.
        np.testing.assert_allclose(out["posterior log_prob"], out["log_q"], atol=1e-8)
    else:
        with pytest.raises(NotImplementedError, match="no closed-form inverse"):
            out["transform"].inv(jnp.zeros(3))
        with pytest.raises(NotImplementedError, match="no closed-form inverse"):
            out["posterior"].log_prob(jnp.zeros(3))
    with pytest.raises(NotImplementedError, match="no closed\\s+form"):
        guide.quantiles(params, [0.25, 0.75])


def test_transform_with_missing_layers_names_them():
    guide = _guide(AutoIAFNormal)
    params = {"_auto_s_site": jnp.zeros(0), "_auto_a_site": jnp.zeros(0), "auto_flow_0": None}
    with pytest.raises(ValueError, match=r"params has no \['auto_flow_1'\]"):
        guide.get_transform(params)
