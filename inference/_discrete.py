"""``infer_discrete``: MAP values or posterior samples of enumerated discrete sites.

The model runs once under ``enum`` (hidden from the handlers outside, as NumPyro does),
its factors are contracted on the max-product semiring (``temperature=0``) or by forward
filtering (``temperature=1``), and each enumerated variable is then chosen backwards given
the ones chosen after it (``inference._contract.backward_sample``). The model then runs
again, in the handlers in force, with those values substituted: a ``trace`` outside sees
the discrete sites at their chosen values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import jax
import jax.numpy as jnp
from jaxtyping import Array

from effects import Sample, prng_key, run
from handlers import Block, Enum, factors, seed, substitute, trace

from ._contract import Ring, backward_sample, contract_terms, terms_of
from ._model_spec import ModelSpec


def _max_plate_nesting(first_available_dim: int | None, tr_depth: int) -> int:
    if first_available_dim is None:
        return tr_depth
    if first_available_dim >= 0:
        raise ValueError(
            f"infer_discrete: first_available_dim must be negative (-(max_plate_nesting + 1)), "
            f"got {first_available_dim}."
        )
    return -first_available_dim - 1


def _depth(model: Callable, args: tuple, kwargs: dict) -> int:
    """The deepest plate dim of the model's sites (a run hidden from the handlers in
    force, with the enumerated sites at placeholder values; under ``jit`` it is traced
    and thrown away)."""
    from ._log_density import FindEnumerated

    _, (found, _) = run(model, FindEnumerated() >> Block())(*args, **kwargs)
    return found.depth


def discrete_values(
    model: Callable,
    args: tuple,
    kwargs: dict,
    max_plate_nesting: int,
    temperature: int,
    key: Any,
) -> dict[str, Array]:
    """Each enumerated site's chosen value (MAP or a posterior draw), shaped as the site's
    value would be without enumeration (its plates at their dims)."""
    pipe = Enum(max_plate_nesting) >> factors() >> trace() >> Block()
    if key is not None:  # continuous latent sites not given values are drawn
        pipe = seed(jax.random.fold_in(key, 1)) >> pipe
    outputs = run(model, pipe)(*args, **kwargs)[1]
    fs, tr = outputs[-3], outputs[-2]
    ring: Ring = "max" if temperature == 0 else "sample"
    chain_records: list = []
    terms, var_plates = terms_of(fs, max_plate_nesting, ring, chain_records)
    _, records = contract_terms(terms, var_plates, ring)
    chosen = backward_sample(chain_records + list(records), key, temperature)
    out = {}
    for name, (idx, plates) in chosen.items():
        site = tr[name]
        assert isinstance(site, Sample)
        support = jnp.asarray(site.fn.enumerate_support(expand=False))
        support = jnp.reshape(support, (support.shape[0],) + tuple(site.fn.event_shape))
        frames = {f.name: f for f in site.cond_indep_stack}
        ndim = max([-f.dim for f in site.cond_indep_stack] + [0])
        full = [1] * ndim
        for f in site.cond_indep_stack:
            full[f.dim] = f.size
        # A site of an enumerated scan has its steps first (stacked along time).
        time = tuple(idx.shape[:1]) if site._stacked_axes() else ()
        # The chosen indices run along the plates kept by the contraction (a plate of
        # size one is dropped there); lay them at their dims and broadcast to the rest.
        order = sorted(range(len(plates)), key=lambda i: frames[plates[i]].dim)
        idx = jnp.transpose(idx, tuple(range(len(time))) + tuple(len(time) + i for i in order))
        shape = [1] * ndim
        for pos, i in enumerate(order):
            shape[frames[plates[i]].dim] = idx.shape[len(time) + pos]
        idx = jnp.broadcast_to(jnp.reshape(idx, time + tuple(shape)), time + tuple(full))
        out[name] = support[idx]
    return out


def infer_discrete(
    fn: Callable | None = None,
    first_available_dim: int | None = None,
    temperature: Literal[0, 1] = 1,
    rng_key: Any = None,
) -> Any:
    """Run ``fn`` with its enumerated discrete sites at their MAP values
    (``temperature=0``) or at a draw from their posterior given everything else
    (``temperature=1``).

    Args:
        fn: the model, with its discrete sites marked for enumeration
            (``handlers.config_enumerate``) and its continuous sites given values (by
            ``substitute`` or ``condition`` inside it, as in NumPyro).
        first_available_dim: ``-(max_plate_nesting + 1)``; found from the model when
            ``None``.
        temperature: 0 for MAP, 1 for posterior sampling.
        rng_key: the key for ``temperature=1``; by default one is asked of the ``seed``
            in force (site ``"_infer_discrete"``).

    Returns:
        ``fn`` wrapped: calling it returns ``fn``'s value, with the discrete sites at the
        chosen values (so ``trace(infer_discrete(model, ...)).get_trace(*args)`` records
        them).

    Example:
        >>> import jax, jax.numpy as jnp, dists as D
        >>> from effects import sample
        >>> from handlers import config_enumerate, trace
        >>> def model():
        ...     z = sample("z", D.Bernoulli(probs=0.5))
        ...     sample("x", D.Normal(jnp.where(z == 1, 3.0, 0.0), 1.0), obs=2.9)
        >>> tr = trace(infer_discrete(config_enumerate(model), temperature=0)).get_trace()
        >>> int(tr["z"].value)
        1
    """
    if temperature not in (0, 1):
        raise ValueError(f"infer_discrete: temperature must be 0 or 1, got {temperature!r}.")
    if fn is None:
        return lambda f: infer_discrete(f, first_available_dim, temperature, rng_key)

    def sampled(*args: Any, **kwargs: Any) -> Any:
        key = rng_key
        if temperature == 1 and key is None:
            key = prng_key("_infer_discrete")
            if key is None:
                raise ValueError(
                    "infer_discrete(temperature=1) draws the discrete sites and needs a "
                    "PRNG key, but none was given and no `seed` handler is in force. Fix: "
                    "pass rng_key=..., or run under `seed(...)`."
                )
        if first_available_dim is None:
            m = _depth(fn, args, kwargs)
        else:
            m = _max_plate_nesting(first_available_dim, 0)
        values = discrete_values(fn, args, kwargs, m, temperature, key)
        return substitute(fn, data=values)(*args, **kwargs)

    return sampled


def _element_mask(f: Any, max_plate_nesting: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The axes of a factor that index the site's own elements (time steps, plates and
    batch dims in the plates' region), and their sizes."""
    n_time = sum(1 for k, _ in f.dims if k == "time")
    n_step = len(f.dims) - n_time
    axes = tuple(
        a
        for a, (k, _) in enumerate(f.dims)
        if k == "time" or (k != "enum" and n_step - (a - n_time) <= max_plate_nesting)
    )
    shape = tuple(jnp.shape(f.log_density)[a] for a in axes)
    return axes, shape


def enumerated_log_likelihood(
    model: Callable, margs: Any, spec: ModelSpec, draw: dict
) -> dict[str, Array]:
    """Each observed site's elementwise log likelihood with the enumerated sites summed
    out: for element ``i`` of site ``y``, ``log p(y_i | draw)``, the other observations
    left out (the contraction of the latent factors and ``y_i``'s, less that of the
    latent factors alone). Its shape is the site's without enumeration dims (time first
    inside a scan); unscaled, masked as the site is. ``spec``: the model's
    :class:`~inference.ModelSpec` (which sites are observed; the plate nesting)."""
    from handlers import LogFactor

    from ._contract import contract_factors

    max_plate_nesting, observed = spec.max_plate_nesting, set(spec.observed)
    pipe = substitute(draw, on_unknown="ignore") >> Enum(max_plate_nesting) >> factors()
    _, (_, _, fs) = margs.call(run(model, pipe))
    latent = [f for f in fs if f.name not in observed]
    base = contract_factors(latent, max_plate_nesting)
    out = {}
    for f in fs:
        if f.name not in observed:
            continue
        axes, shape = _element_mask(f, max_plate_nesting)
        lp = jnp.asarray(f.log_density)
        n = 1
        for s in shape:
            n *= s

        def one(i, f=f, axes=axes, shape=shape, lp=lp):
            onehot = jnp.reshape(jnp.arange(n) == i, shape)
            full = [1] * lp.ndim
            for a, s in zip(axes, shape):
                full[a] = s
            keep = jnp.broadcast_to(jnp.reshape(onehot, tuple(full)), lp.shape)
            only = jnp.where(keep, lp, jnp.zeros((), lp.dtype))
            g = LogFactor(f.name, only, f.dims, f.mask, None, f.contraction)
            return contract_factors(latent + [g], max_plate_nesting) - base

        out[f.name] = jnp.reshape(jax.vmap(one)(jnp.arange(n)), shape)
    return out
