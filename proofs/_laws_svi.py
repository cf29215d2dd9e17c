"""Laws of the variational objectives (``inference.Trace_ELBO``, ``TraceEnum_ELBO``).

These laws are about inference's ELBO, so their checks import ``inference`` when they
run (the rest of ``proofs`` needs only effects, handlers and dists).
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np
from hypothesis import strategies as st

import dists as D
import handlers as H
from effects import Factor, Sample, plate, sample

from ._compare import assert_close
from ._law import Law
from ._laws_enum import _brute, _model, discrete_models
from ._spec import build_model
from ._strategies import model_specs


def _trace_elbo(num_particles: int, vectorize: bool) -> Any:
    from inference import Trace_ELBO

    return Trace_ELBO(num_particles=num_particles, vectorize_particles=vectorize)


def _observed_or_factor(msg: Any) -> bool:
    return isinstance(msg, Factor) or (isinstance(msg, Sample) and msg.is_observed)


def _prior_guide(model):
    """The model's latent part: the model with its observed sites and factors hidden."""
    return H.block(model, hide_fn=_observed_or_factor)


@st.composite
def _conjugate(draw, spec):
    n = draw(st.integers(1, 4))
    x = draw(st.lists(st.floats(-3, 3, allow_nan=False), min_size=n, max_size=n))
    m0 = draw(st.floats(-2, 2, allow_nan=False))
    s0 = draw(st.floats(0.3, 3.0, allow_nan=False))
    sigma = draw(st.floats(0.3, 3.0, allow_nan=False))
    particles = draw(st.integers(1, 4))
    return np.asarray(x), m0, s0, sigma, particles


def _check_exact_posterior(spec, data, key):
    # (a) A generated model with its observations and factors hidden has evidence 1, and
    # its prior is its exact posterior: the ELBO of the prior guide is exactly 0.
    latent = _prior_guide(build_model(spec))
    loss = _trace_elbo(2, True).loss(key, {}, latent, latent)
    assert_close(loss, 0.0, "ELBO of the exact posterior of a model with no data", kind="math")
    # (b) The conjugate normal-normal model with the exact posterior as its guide: every
    # particle is log p(x).
    x, m0, s0, sigma, particles = data

    def model():
        mu = sample("mu", D.Normal(m0, s0))
        with plate("N", len(x)):
            sample("x", D.Normal(mu, sigma), obs=jnp.asarray(x))

    prec = 1 / s0**2 + len(x) / sigma**2
    mean = (m0 / s0**2 + x.sum() / sigma**2) / prec

    def guide():
        sample("mu", D.Normal(mean, prec**-0.5))

    cov = sigma**2 * np.eye(len(x)) + s0**2 * np.ones((len(x), len(x)))
    diff = x - m0
    log_evidence = -0.5 * (
        len(x) * np.log(2 * np.pi) + np.linalg.slogdet(cov)[1] + diff @ np.linalg.solve(cov, diff)
    )
    loss = _trace_elbo(particles, True).loss(key, {}, model, guide)
    assert_close(-loss, log_evidence, "ELBO of the exact posterior vs log evidence", kind="math")


elbo_of_exact_posterior = Law(
    "elbo_of_exact_posterior",
    "When the guide is the model's exact posterior, `Trace_ELBO` (any `num_particles`) "
    "equals the log evidence `log p(x)`; checked on generated models with their data and "
    "factors hidden (evidence 1, posterior = prior, ELBO 0) and on the conjugate "
    "normal-normal model with generated data and prior.",
    "For q(z) = p(z | x), `log p(x, z) - log q(z) = log p(x)` for every z, so every "
    "particle, and their mean, is `log p(x)`: there is no Monte Carlo error at all. A model "
    "with no observed site and no factor is normalised (evidence 1) and its prior is its "
    "posterior; plate subsample scales apply equally to the model and the guide.",
    _check_exact_posterior,
    data=_conjugate,
    models=lambda: model_specs(require=("latent",), factors=False, params=False),
    cost=0.5,
)


def _check_particles(spec, data, key):
    model = build_model(spec)
    guide = _prior_guide(model)
    n = data
    a = _trace_elbo(n, True).loss(key, {}, model, guide)
    b = _trace_elbo(n, False).loss(key, {}, model, guide)
    assert_close(a, b, "vectorised vs sequential particles", kind="math")


particles_vectorised_or_sequential = Law(
    "particles_vectorised_or_sequential",
    "`Trace_ELBO(num_particles=n)` gives the same estimate whether its particles are "
    "vectorised (`jax.vmap`) or run one after the other (`lax.map`), for the same key, on "
    "generated models with the prior (observed sites and factors hidden) as the guide.",
    "Both split the key into the same n particle keys and run the same per-particle "
    "function on each; `vmap` and `map` are two schedules of the same computation, and the "
    "estimate is the mean of the particles.",
    _check_particles,
    data=lambda spec: st.integers(1, 3),
    models=lambda: model_specs(require=("latent",)),
    cost=0.5,
)


@st.composite
def _conjugate_part(draw, spec):
    floats = st.floats(-2.0, 2.0, allow_nan=False, width=32)
    m0, w = draw(floats), draw(floats)
    s0 = draw(st.floats(0.3, 2.0, allow_nan=False))
    sigma = draw(st.floats(0.3, 2.0, allow_nan=False))
    return m0, s0, sigma, w, draw(st.integers(1, 3))


def _check_enum_exact_posterior(spec, data, key):
    from inference import TraceEnum_ELBO

    want, _, _, _ = _brute(spec)
    discrete = _model(spec)
    m0, s0, sigma, w, particles = data
    # A conjugate part beside the discrete one: c ~ N(m0, s0), w ~ N(c, sigma) observed.
    prec = 1 / s0**2 + 1 / sigma**2
    mean = (m0 / s0**2 + w / sigma**2) / prec
    log_evidence_c = -0.5 * (
        np.log(2 * np.pi * (s0**2 + sigma**2)) + (w - m0) ** 2 / (s0**2 + sigma**2)
    )

    def model():
        c = sample("c", D.Normal(m0, s0))
        sample("w", D.Normal(c, sigma), obs=jnp.asarray(w))
        discrete()

    def guide():
        sample("c", D.Normal(mean, prec**-0.5))

    loss = TraceEnum_ELBO(num_particles=particles, max_plate_nesting=2)
    got = -loss.loss(key, {}, H.config_enumerate(model), guide)
    assert_close(
        got,
        jnp.asarray(want + log_evidence_c),
        "TraceEnum_ELBO of the exact posterior",
        kind="math",
    )


traceenum_elbo_of_exact_posterior = Law(
    "traceenum_elbo_of_exact_posterior",
    "For a generated discrete model (up to three categorical sites in nested plates, each "
    "with an observed child; the enumeration laws' models) beside a conjugate normal "
    "part with generated prior and datum, `TraceEnum_ELBO` (any `num_particles`) with the "
    "discrete sites enumerated and the normal's exact posterior as the guide equals the "
    "log evidence: the brute-force log sum over every joint assignment (NumPy) plus the "
    "normal part's closed-form log evidence.",
    "Each particle is `log sum_y p(x, y, z) - log q(z)` at the guide's draw `z`, the sum "
    "done by the enumeration contraction, which is exact (the law "
    "`enum_contract_is_the_brute_force_marginal`). The collapsed model `p(x, z)` factors "
    "into the discrete part's evidence and the normal part, and for `q(z) = p(z | x)` "
    "`log p(x, z) - log q(z) = log p(x)` at every `z`: no Monte Carlo error at all.",
    _check_enum_exact_posterior,
    data=_conjugate_part,
    models=discrete_models,
    handlers=("enum",),
    cost=0.5,
)

SVI_LAWS: tuple[Law, ...] = (
    elbo_of_exact_posterior,
    particles_vectorised_or_sequential,
    traceenum_elbo_of_exact_posterior,
)
