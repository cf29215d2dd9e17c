"""``Predictive`` and ``log_likelihood``: prior and posterior predictive sampling.

Both are vectorised by ``jax.vmap`` over a *batched pipeline*: ``seed(keys) >>
substitute(draws) >> trace()`` whose leaves carry a leading batch axis. No special
batching code is needed inside the model. Each is one compiled program; the model's
arguments follow the rule of :class:`ModelArgs` (JAX arrays traced, other values
constants), so a second call with new JAX-array data of the same shapes compiles nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

from effects import Handled, Sample, run
from handlers import seed, substitute, trace

from ._model_args import ModelArgs, explain_traced_args
from ._model_spec import ModelSpec, spec_of


def _batch_size(samples: Mapping[str, Any], batch_ndims: int) -> tuple[tuple[int, ...], int]:
    shapes = {k: tuple(jnp.shape(v)[:batch_ndims]) for k, v in samples.items()}
    short = {k: s for k, s in shapes.items() if len(s) < batch_ndims}
    if short:
        raise ValueError(
            f"Predictive: posterior samples need {batch_ndims} leading batch dim(s), but "
            f"{sorted(short)} have fewer. Fix: pass draws with a leading draw axis (as "
            "mcmc.get_samples() gives them), or set batch_ndims."
        )
    distinct = set(shapes.values())
    if len(distinct) != 1:
        raise ValueError(
            f"Predictive: posterior samples must share their first {batch_ndims} (batch) "
            f"dims, found {shapes}. Fix: pass samples from one run, or set batch_ndims."
        )
    batch_shape = distinct.pop()
    n = 1
    for s in batch_shape:
        n *= s
    return batch_shape, n


def _flatten_batch(samples: Mapping[str, Any], batch_ndims: int) -> tuple[tuple, int, dict]:
    batch_shape, n = _batch_size(samples, batch_ndims)
    flat = {
        k: jnp.reshape(jnp.asarray(v), (n,) + tuple(jnp.shape(v)[batch_ndims:]))
        for k, v in samples.items()
    }
    return batch_shape, n, flat


def _predictive_trace(
    model: Callable, margs: ModelArgs, key: Any, draw: dict, discrete: bool = False
) -> Any:
    if discrete:
        # The enumerated sites are drawn from their posterior given the draw of the other
        # sites (NumPyro's ``infer_discrete(substitute(model, draw))``).
        from ._discrete import infer_discrete

        given = substitute(model, data=draw, on_unknown="ignore")
        _, (_, tr) = margs.call(run(infer_discrete(given, temperature=1), seed(key) >> trace()))
        return tr
    pipe = seed(key) >> substitute(draw, on_unknown="ignore") >> trace()
    _, (_, _, tr) = margs.call(run(model, pipe))
    return tr


def _sites_to_return(spec: ModelSpec, given: set, return_sites: tuple | None) -> list[str]:
    if return_sites is None:
        return [
            s.name
            for s in spec.sites
            if (s.role in ("latent", "observed") and s.name not in given)
            or s.role == "deterministic"
        ]
    if return_sites == ():
        return [s.name for s in spec.sites]
    names = [s.name for s in spec.sites]
    missing = [s for s in return_sites if s not in names]
    if missing:
        raise ValueError(
            f"Predictive: return_sites {missing} are not sites of the model; sites are "
            f"{names}. Fix: pick names from these."
        )
    return list(return_sites)


@eqx.filter_jit
def _predict(model, margs, keys, flat, return_sites, exclude_deterministic, discrete=False):
    # One abstract run (at trace time) gives the roles of the sites.
    spec = spec_of(model, margs)
    sites = _sites_to_return(spec, set(flat), return_sites)
    if exclude_deterministic:
        flat = {k: v for k, v in flat.items() if k not in spec.deterministic}

    def values(k, draw):
        tr = _predictive_trace(model, margs, k, draw, discrete)
        return {name: tr[name].value for name in sites}

    return jax.vmap(values)(keys, flat)


class Predictive(eqx.Module):
    """Prior or posterior predictive samples of a model.

    Args:
        model: the model.
        posterior_samples: dict of draws with ``batch_ndims`` leading batch dims (e.g.
            ``mcmc.get_samples()``); ``None`` for prior predictive sampling.
        num_samples: number of draws (required without ``posterior_samples``).
        return_sites: names of the sites to return. Default: the sample sites not in
            ``posterior_samples`` plus the deterministic sites; ``""`` returns all sites.
        batch_ndims: leading batch dims of ``posterior_samples`` (default 1; use 2 for
            ``get_samples(group_by_chain=True)``).
        exclude_deterministic: do not substitute deterministic sites from the samples,
            recompute them instead.
        infer_discrete: draw the sites marked for enumeration from their posterior
            given each draw of the other sites (``inference.infer_discrete`` at
            temperature 1), instead of from their prior.
        parallel: accepted for NumPyro compatibility; draws are always vectorised.

    ``predictive(rng_key, *args, **kwargs)`` returns a dict name -> array with the batch
    shape leading. Each row runs the model with its own key split from ``rng_key``, so a
    latent site missing from ``posterior_samples`` is drawn afresh from its prior in every
    row (as in NumPyro). The model's arguments follow :class:`ModelArgs`'s rule.

    Example:
        >>> import jax, dists as D
        >>> from effects import sample
        >>> def model():
        ...     sample("x", D.Normal(0.0, 1.0))
        >>> Predictive(model, num_samples=5)(jax.random.key(0))["x"].shape
        (5,)
    """

    model: Callable
    posterior_samples: dict[str, Any] | None = None
    num_samples: int | None = eqx.field(static=True, default=None)
    return_sites: tuple[str, ...] | None = eqx.field(static=True, default=None)
    batch_ndims: int = eqx.field(static=True, default=1)
    exclude_deterministic: bool = eqx.field(static=True, default=True)
    guide: Callable | None = None
    params: dict[str, Any] | None = None
    infer_discrete: bool = eqx.field(static=True, default=False)

    def __init__(
        self,
        model: Callable,
        posterior_samples: Mapping[str, Any] | None = None,
        *,
        guide: Callable | None = None,
        params: Mapping[str, Any] | None = None,
        num_samples: int | None = None,
        return_sites: Sequence[str] | str | None = None,
        infer_discrete: bool = False,
        parallel: bool = False,
        batch_ndims: int | None = None,
        exclude_deterministic: bool = True,
    ):
        if not callable(model):
            raise TypeError(f"Predictive expects a model (a callable), got {type(model).__name__}.")
        if guide is not None and not callable(guide):
            raise TypeError(f"Predictive: guide must be a callable, got {type(guide).__name__}.")
        if guide is not None and posterior_samples:
            raise ValueError(
                "Predictive: pass either posterior_samples or guide=, not both (the guide's "
                "draws take the place of the samples)."
            )
        if guide is not None and num_samples is None:
            raise ValueError(
                "Predictive: with guide=, num_samples (the number of draws from the guide) is "
                "needed. Fix: Predictive(model, guide=guide, params=params, num_samples=100)."
            )
        del parallel
        if not posterior_samples and num_samples is None:
            raise ValueError(
                "Predictive: pass posterior_samples (posterior predictive) or num_samples "
                f"(prior predictive); got posterior_samples={posterior_samples!r} and no "
                "num_samples."
            )
        if num_samples is not None and (
            isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1
        ):
            raise ValueError(f"Predictive: num_samples must be a positive int, got {num_samples}.")
        self.model = model
        self.guide = guide
        self.params = None if params is None else dict(params)
        self.posterior_samples = (
            None
            if posterior_samples is None
            else {k: jnp.asarray(v) for k, v in posterior_samples.items()}
        )
        self.num_samples = num_samples
        if isinstance(return_sites, str):
            self.return_sites = () if return_sites == "" else (return_sites,)
        else:
            self.return_sites = None if return_sites is None else tuple(return_sites)
        self.batch_ndims = 1 if batch_ndims is None else int(batch_ndims)
        self.exclude_deterministic = exclude_deterministic
        self.infer_discrete = bool(infer_discrete)

    def __call__(self, rng_key: Any, *args: Any, **kwargs: Any) -> dict[str, Array]:
        samples = self.posterior_samples or {}
        if self.guide is not None:
            # SVI: the guide's draws (at the learnt params) stand for posterior samples.
            rng_key, guide_key = jax.random.split(rng_key)
            assert self.num_samples is not None
            samples = _guide_draws(
                self.guide, self.params or {}, guide_key, self.num_samples, args, kwargs
            )
        if samples:
            batch_shape, n, flat = _flatten_batch(samples, self.batch_ndims)
            if self.num_samples is not None and self.num_samples != n:
                raise ValueError(
                    f"Predictive: num_samples={self.num_samples} does not match the "
                    f"{n} posterior draws."
                )
        else:
            # __init__ requires num_samples when posterior_samples is None or empty.
            assert self.num_samples is not None
            batch_shape, n, flat = (self.num_samples,), self.num_samples, {}
        keys = jax.random.split(rng_key, n)
        margs = ModelArgs.of(args, kwargs)
        model = self.model
        if self.params:
            # The model's param sites (an Equinox module's leaves included) take the learnt
            # values, as in NumPyro's `Predictive(model_or_guide, params=params)`.
            from ._elbo import ParamValues

            model = Handled(model, ParamValues(dict(self.params)))

        def rerun(m):
            draw = {k: v[0] for k, v in flat.items()}
            jax.eval_shape(lambda k, d: _predictive_trace(model, m, k, d), keys[0], draw)

        with explain_traced_args(model, margs, rerun):
            out = _predict(
                model,
                margs,
                keys,
                flat,
                self.return_sites,
                self.exclude_deterministic,
                self.infer_discrete,
            )
        return {k: jnp.reshape(v, tuple(batch_shape) + v.shape[1:]) for k, v in out.items()}


@eqx.filter_jit
def _guide_program(guide, margs, params, keys):
    from ._elbo import ParamValues

    def one(k):
        pipe = ParamValues(dict(params)) >> seed(k) >> trace()
        _, (_, _, tr) = margs.call(run(guide, pipe))
        return {
            name: site.value
            for name, site in tr.items()
            if isinstance(site, Sample)
            and not site.is_observed
            and not site.infer.get("is_auxiliary", False)
        }

    return jax.vmap(one)(keys)


def _guide_draws(guide, params, key, n, args, kwargs):
    """``n`` draws of the guide's latent sites at ``params`` (one compiled program)."""
    return _guide_program(guide, ModelArgs.of(args, kwargs), dict(params), jax.random.split(key, n))


def _observed_sites(model: Callable, margs: ModelArgs, spec: ModelSpec, draw: dict) -> dict:
    """The observed sites (as the spec says) of one run with the latent sites at ``draw``
    (no randomness: every latent site takes its value from the draw)."""
    _, (_, tr) = margs.call(run(model, substitute(draw, on_unknown="ignore") >> trace()))
    return {name: tr[name] for name in spec.observed}


@eqx.filter_jit
def _log_likelihood_program(model, margs, spec, flat):
    def one(d):
        # The site's own log_prob maps over scan-stacked axes; the likelihood is reported
        # unscaled (no subsampling or tempering factor), as in NumPyro.
        sites = _observed_sites(model, margs, spec, d)
        return {name: site.replace(scale=None).log_prob() for name, site in sites.items()}

    return jax.vmap(one)(flat)


@eqx.filter_jit
def _enumerated_log_likelihood_program(model, margs, spec, flat):
    from ._discrete import enumerated_log_likelihood

    return jax.vmap(lambda d: enumerated_log_likelihood(model, margs, spec, d))(flat)


def model_log_likelihood(
    model: Callable,
    posterior_samples: Mapping[str, Any],
    margs: ModelArgs,
    batch_ndims: int,
    spec: ModelSpec | None = None,
) -> dict[str, Array]:
    """:func:`log_likelihood` with the model's arguments already split (``spec``: the
    model's, if the caller has it; else built here from one abstract run)."""
    samples = {k: jnp.asarray(v) for k, v in posterior_samples.items()}
    batch_shape, n, flat = _flatten_batch(samples, batch_ndims)
    if spec is None:
        spec = spec_of(model, margs)
    missing = [name for name in spec.latent if name not in flat]
    if missing:
        if set(missing) <= set(spec.enumerated):
            # The missing sites are marked for enumeration: they are summed out.
            out = _enumerated_log_likelihood_program(model, margs, spec, flat)
            return {k: jnp.reshape(v, tuple(batch_shape) + v.shape[1:]) for k, v in out.items()}
        raise ValueError(
            f"log_likelihood: posterior_samples has no draws of the latent site(s) "
            f"{missing}, and the likelihood depends on every latent site. Fix: pass draws "
            "of every latent site (mcmc.get_samples() has them), or draw the missing ones "
            "first with Predictive(model, posterior_samples) and add them."
        )
    out = _log_likelihood_program(model, margs, spec, flat)
    return {k: jnp.reshape(v, tuple(batch_shape) + v.shape[1:]) for k, v in out.items()}


def log_likelihood(
    model: Callable,
    posterior_samples: Mapping[str, Any],
    *args: Any,
    parallel: bool = False,
    batch_ndims: int = 1,
    **kwargs: Any,
) -> dict[str, Array]:
    """Elementwise log likelihood of every observed site, for every posterior draw.

    Returns a dict name -> array of shape ``batch_shape + site batch shape``. Every latent
    site must have draws in ``posterior_samples``; a missing one is an error (it is not
    filled from the prior), unless it is marked for enumeration: those are summed out,
    and element ``i`` of site ``y`` is ``log p(y_i | draw)`` with the other observations
    left out (``inference._discrete.enumerated_log_likelihood``; NumPyro 0.22 has no such
    path: it needs draws of the discrete sites too, and so does this function when they
    are given). ``parallel`` is accepted for NumPyro compatibility: the draws
    are always vectorised.
    """
    del parallel
    return model_log_likelihood(model, posterior_samples, ModelArgs.of(args, kwargs), batch_ndims)


@eqx.filter_jit
def _observed_program(model, margs, spec, draw):
    return {name: site.value for name, site in _observed_sites(model, margs, spec, draw).items()}


def observed_values(
    model: Callable, draw: Mapping[str, Any], margs: ModelArgs, spec: ModelSpec
) -> dict[str, Any]:
    """The observed values of the model's sites (those ``spec`` says are observed), from
    one run at the posterior ``draw`` (every latent site takes its value from the draw)."""
    import numpy as np

    out = _observed_program(model, margs, spec, dict(draw))
    return {k: np.asarray(v) for k, v in out.items()}
