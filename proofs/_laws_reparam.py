"""Laws of ``reparam`` (``handlers.reparam`` with ``LocScaleReparam``, and with
``inference.NeuTraReparam``, whose check imports ``inference`` when it runs).

Generated models have Normal latent sites (in plates, with parents, beside observed
sites, params, factors and deterministic sites); a law draws which of them to non-centre
and how far (``centered`` in {0, 0.5, 1, learnable}). Scans and subsampled plates are left
out: a site reparameterised inside a scan, or scaled by a subsample, obeys the same laws
but needs its own bookkeeping in the checks.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import strategies as st

import handlers as H
from effects import Sample, run

from ._compare import assert_close
from ._law import Law
from ._spec import ModelSpec, build_model
from ._strategies import model_specs

#: The false-alarm rate of the two-sample test of one generated example (Bonferroni over
#: every scalar of every reparameterised site).
PRIOR_ALPHA = 1e-3
PRIOR_DRAWS = 800


def _models():
    return model_specs(require=("latent_normal",), scan=False, subsample=False)


def _normal_latents(spec: ModelSpec) -> tuple[str, ...]:
    return spec.names(("sample",), latent=True, families=("Normal",), in_scan=False)


_CENTRES = st.sampled_from([0.0, 0.5, 1.0, None])


@st.composite
def _config(draw, spec: ModelSpec) -> dict[str, Any]:
    """Some Normal latent sites (at least one), each with a centredness."""
    names = _normal_latents(spec)
    chosen = draw(st.lists(st.sampled_from(names), min_size=1, unique=True))
    return {n: draw(_CENTRES) for n in chosen}


def _reparam(config: dict[str, Any]) -> H.ReparamHandler:
    return H.reparam(config={n: H.LocScaleReparam(c) for n, c in config.items()})


def _trace(model, pipe, key) -> Any:
    _, outputs = run(model, pipe >> H.seed(key) >> H.trace())()
    return outputs[-1]


# --------------------------------------------------------------------------------------
# (a) the prior of the original sites


def _ks_pvalue(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov p-value (asymptotic, as SciPy's ``ks_2samp``)."""
    from scipy.stats import ks_2samp

    return float(ks_2samp(a, b).pvalue)


def _check_prior(spec, config, key):
    model = build_model(spec)
    rep = _reparam(config)
    k1, k2 = jax.random.split(key)

    def draws(pipe, k):
        def one(kk):
            tr = _trace(model, pipe, kk)
            return {n: tr[n].value for n in config}

        return jax.vmap(one)(jax.random.split(k, PRIOR_DRAWS))

    # Independent keys on the two sides, so that the two samples are independent.
    a = draws(H.identity(), k1)
    b = draws(rep, k2)
    columns = [
        (
            n,
            i,
            np.asarray(a[n]).reshape(PRIOR_DRAWS, -1)[:, i],
            np.asarray(b[n]).reshape(PRIOR_DRAWS, -1)[:, i],
        )
        for n in config
        for i in range(int(np.prod(np.shape(a[n])[1:], dtype=int)))
    ]
    level = PRIOR_ALPHA / len(columns)
    for n, i, x, y in columns:
        p = _ks_pvalue(x, y)
        if p < level:
            raise AssertionError(
                f"site '{n}' (element {i}) with LocScaleReparam({config[n]}): the "
                f"two-sample KS test rejects equal priors, p = {p:.2e} < {level:.1e}"
            )


reparam_keeps_the_prior = Law(
    "reparam_keeps_the_prior",
    "For generated models and any set of Normal latent sites, each with `LocScaleReparam("
    "c)` (c in {0, 0.5, 1} or learnable, at its initial 0.5), prior draws of the original "
    f"sites under `reparam` have the distribution they have without it: {PRIOR_DRAWS} "
    "draws on each side, independent keys, a two-sample Kolmogorov-Smirnov test per "
    f"scalar at a Bonferroni-corrected level, false-alarm rate {PRIOR_ALPHA} per example.",
    "With `z ~ F(c loc, scale^c)`, `loc + scale^(1-c) (z - c loc)` is `F(loc, scale)` for "
    "a location-scale family F (an affine image of a location-scale variable), whatever "
    "`loc` and `scale` are, so conditionally on its parents the site has its own "
    "distribution, and so do all sites downstream of it. Sites the config leaves alone "
    "draw as before.",
    _check_prior,
    data=_config,
    models=_models,
    handlers=("reparam",),
    cost=0.5,
)


# --------------------------------------------------------------------------------------
# (b) the density: change of variables


def _log_jacobian(site: Sample, c: Any) -> Any:
    """``log |dx/dz| = (1 - c) * sum(log scale)`` over the site's value."""
    if c is None:
        c = 0.5
    base, _, _ = H.unwrap(site.fn)
    scale = jnp.broadcast_to(base.scale, jnp.shape(site.value))
    return (1 - c) * jnp.sum(jnp.log(scale))


def _check_density(spec, config, key):
    model = build_model(spec)
    new = _trace(model, _reparam(config), key)
    # The original model at the reparameterised run's values: every latent sample site
    # (the original sites at their deterministic values) substituted.
    values = {
        n: s.value
        for n, s in new.items()
        if (
            isinstance(s, Sample)
            and not s.is_observed
            and n.removesuffix("_decentered") not in config
        )
        or n in config
    }
    orig = _trace(model, H.substitute(values, on_unknown="ignore"), key)
    for n in config:
        assert_close(orig[n].value, new[n].value, f"site '{n}' value", kind="same")
    log_jac = sum((_log_jacobian(orig[n], c) for n, c in config.items()), jnp.zeros(()))
    assert_close(
        new.log_prob_sum(),
        orig.log_prob_sum() + log_jac,
        "log density of the reparameterised model vs the original plus log|dx/dz|",
        kind="math",
    )


reparam_density_change_of_variables = Law(
    "reparam_density_change_of_variables",
    "For generated models and `LocScaleReparam(c)` on some Normal latent sites, the log "
    "joint density of the reparameterised model at its values equals the original model's "
    "log joint at the same values of the original sites plus `sum (1 - c) log scale` over "
    "the reparameterised sites' elements; so, the map being a bijection, the posterior of "
    "the original sites is the same (MCMC checks of that are in tests/reparam).",
    "The new site `z` has density `f(z; c loc, scale^c)` and `x = loc + scale^(1-c) (z - c "
    "loc)` has `dx/dz = scale^(1-c)` elementwise, so `p(z, rest) = p(x(z), rest) |dx/dz|`: "
    "the change-of-variables formula, exact for every value. Integrating `z` out of both "
    "sides gives the same marginal of the other sites, and conditioning on data gives the "
    "same posterior of `x`.",
    _check_density,
    data=_config,
    models=_models,
    handlers=("reparam",),
    cost=0.5,
)


# --------------------------------------------------------------------------------------
# (c) disjoint reparameterisers commute


@st.composite
def _two_configs(draw, spec: ModelSpec):
    config = draw(_config(spec))
    names = list(config)
    split = draw(st.integers(0, len(names)))
    a = {n: config[n] for n in names[:split]}
    b = {n: config[n] for n in names[split:]}
    return a, b


def _same_traces(t1: Any, t2: Any, what: str) -> None:
    if tuple(t1) != tuple(t2):
        raise AssertionError(f"{what}: the sites differ: {tuple(t1)} vs {tuple(t2)}")
    for n in t1:
        assert_close(t1[n].value, t2[n].value, f"{what}: site '{n}'", kind="same")
        kinds = [(t[n].type_name, bool(t[n].get("is_observed", False))) for t in (t1, t2)]
        if kinds[0] != kinds[1]:
            raise AssertionError(f"{what}: site '{n}' is (type, observed) {kinds[0]} vs {kinds[1]}")
    assert_close(t1.log_prob_sum(), t2.log_prob_sum(), f"{what}: log density", kind="same")


def _check_commute(spec, data, key):
    a, b = data
    model = build_model(spec)
    ab = _trace(model, _reparam(a) >> _reparam(b), key)
    ba = _trace(model, _reparam(b) >> _reparam(a), key)
    both = _trace(model, _reparam({**a, **b}), key)
    _same_traces(ab, ba, "reparam(A) >> reparam(B) vs reparam(B) >> reparam(A)")
    _same_traces(ab, both, "reparam(A) >> reparam(B) vs reparam(A | B)")


reparam_disjoint_commute = Law(
    "reparam_disjoint_commute",
    "For generated models and two `LocScaleReparam` configs A and B on disjoint sets of "
    "Normal latent sites, `reparam(A) >> reparam(B)`, `reparam(B) >> reparam(A)` and "
    "`reparam(A | B)` (under the same `seed`) give the same trace: the same sites in the "
    "same order and types, the same values, the same log density.",
    "A reparam handler changes only the sites its config names and the sites its "
    "reparameterisers create (named after those), so neither handler touches the other's "
    "sites, and each new site is performed where the original site was, in program "
    "order. `seed` keys each site by its name, so every site draws the same value in "
    "every order.",
    _check_commute,
    data=_two_configs,
    models=_models,
    handlers=("reparam",),
    cost=0.5,
)


# --------------------------------------------------------------------------------------
# (d) reparam commutes with condition on observed sites


@st.composite
def _config_and_data(draw, spec: ModelSpec):
    config = draw(_config(spec))
    latent = [n for n in spec.names(("sample",), latent=True, in_scan=False)]
    observed = [n for n in spec.names(("sample",), latent=False, in_scan=False)]
    given = (
        draw(st.lists(st.sampled_from(latent + observed), unique=True)) if latent + observed else []
    )
    return config, given


def _check_condition(spec, data, key):
    config, given = data
    model = build_model(spec)
    k_data, k_run = jax.random.split(key)
    prior = _trace(model, H.identity(), k_data)
    values = {n: prior[n].value for n in given}
    cond = H.condition(values)
    inside = _trace(model, cond >> _reparam(config), k_run)
    rest = {n: c for n, c in config.items() if n not in values}
    outside = _trace(model, _reparam(rest) >> cond, k_run)
    _same_traces(
        inside,
        outside,
        "condition(D) >> reparam(C) vs reparam(C minus the sites of D) >> condition(D)",
    )
    for n in values:
        if not (inside[n].type_name == "sample" and inside[n].is_observed):
            raise AssertionError(f"site '{n}' is conditioned but not an observed sample site")


reparam_commutes_with_condition = Law(
    "reparam_commutes_with_condition",
    "For generated models, a `LocScaleReparam` config C on Normal latent sites and data D "
    "for some sample sites (latent or observed, inside or outside C), `condition(D) >> "
    "reparam(C)` gives the same trace as `reparam(C') >> condition(D)`, where C' is C "
    "without the sites D names; every site of D stays an observed sample site.",
    "`reparam` leaves observed sites alone, so a site that `condition` has made observed "
    "before `reparam` sees it is not reparameterised: that is the same as leaving it out "
    "of the config. For the other sites, `condition` acts only on the names in D, which "
    "`reparam` neither removes nor creates, and `reparam` acts only on latent sites, which "
    "`condition` does not change.",
    _check_condition,
    data=_config_and_data,
    models=_models,
    handlers=("reparam", "condition"),
    cost=0.5,
)

# --------------------------------------------------------------------------------------
# (e) NeuTra: the change of variables through a guide's map


def _neutra_models():
    return model_specs(
        require=("latent",),
        scan=False,
        subsample=False,
        families=("Normal", "Exponential", "LogNormal"),
    )


@st.composite
def _guide_values(draw, spec: ModelSpec):
    """A seed for the guide's locations, scales and the point ``z``."""
    return draw(st.integers(0, 2**31 - 1))


def _check_neutra(spec, seed, key):
    from inference import AutoNormal, NeuTraReparam

    model = build_model(spec)
    guide = AutoNormal(model)
    _, (_, tr) = run(guide, H.seed(key) >> H.trace())()
    rng = np.random.default_rng(seed)
    params = {}
    for n, s in tr.items():
        if s.type_name != "param":
            continue
        shape = np.shape(s.value)
        if n.endswith("_auto_scale"):
            params[n] = jnp.asarray(rng.uniform(0.3, 1.5, shape))
        else:
            params[n] = jnp.asarray(rng.normal(0.0, 0.5, shape))
    neutra = NeuTraReparam(guide, params)
    rep = H.reparam(config=neutra.config())
    dim = sum(int(np.prod(s)) for s in neutra.u_shapes)
    z = jnp.asarray(rng.normal(size=(dim,)))

    def new_trace(zz):
        _, (*_, t) = run(model, rep >> H.substitute({neutra.latent_site: zz}) >> H.trace())()
        return t

    def flat_values(zz):
        t = new_trace(zz)
        return jnp.concatenate([jnp.reshape(t[n].value, (-1,)) for n in neutra.sites])

    new = new_trace(z)
    values = {n: new[n].value for n in neutra.sites}
    _, (_, orig) = run(model, H.substitute(values) >> H.trace())()
    log_det = jnp.linalg.slogdet(jax.jacfwd(flat_values)(z))[1]
    assert_close(
        new.log_prob_sum(),
        orig.log_prob_sum() + log_det,
        "log density in z vs the original's at x(z) plus log|det dx/dz| (by jacfwd)",
        kind="math",
    )


neutra_change_of_variables = Law(
    "neutra_change_of_variables",
    "For generated models with continuous latent sites (Normal, Exponential, LogNormal; in "
    "plates, with parents, beside observed sites, params, factors and deterministic sites) "
    "and a `NeuTraReparam` built from an `AutoNormal` guide with generated locations and "
    "scales, the reparameterised model's log density at a generated point `z` of the shared "
    "latent equals the original model's log density at the sites' values `x(z)` plus "
    "`log|det dx/dz|`, the Jacobian computed by `jax.jacfwd`.",
    "NeuTra gives the shared latent no density of its own and adds, as factors, the log "
    "density of each site at `x(z)`, the log-Jacobian of each site's `biject_to` and that "
    "of the guide's map, which together are `log p(x(z)) + log|det dx/dz|`, the density of "
    "`z` under the change of variables `x = biject_to(T(z))`. `jacfwd` differentiates the "
    "same map independently of the log-Jacobians the implementation adds.",
    _check_neutra,
    data=_guide_values,
    models=_neutra_models,
    handlers=("reparam",),
    cost=0.5,
)

REPARAM_LAWS: tuple[Law, ...] = (
    reparam_keeps_the_prior,
    reparam_density_change_of_variables,
    reparam_disjoint_commute,
    reparam_commutes_with_condition,
    neutra_change_of_variables,
)
