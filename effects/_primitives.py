"""The primitives that models call: ``sample``, ``param``, ``deterministic``, ``factor``,
``subsample`` and ``prng_key``. Their signatures follow NumPyro's."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, PyTree

from ._messages import Deterministic, Factor, Param, PRNGKey, Sample, Subsample
from ._runtime import perform
from ._util import EMPTY, FrozenDict


def _check_name(name: Any, what: str) -> None:
    if not isinstance(name, str) or not name:
        raise TypeError(f"{what} expects a non-empty string name as first argument, got {name!r}.")


def sample(
    name: str,
    fn: Any,
    obs: ArrayLike | None = None,
    obs_mask: ArrayLike | None = None,
    sample_shape: tuple[int, ...] = (),
    infer: Mapping[str, Any] | None = None,
    rng_key: Any = None,
) -> Any:
    """Draw from ``fn`` at site ``name``, or observe ``obs`` there.

    Args:
        name: the site's unique name.
        fn: a distribution.
        obs: observed data; the site is then observed and returns ``obs``.
        obs_mask: boolean mask, ``True`` where ``obs`` is observed. The unobserved entries
            become the latent site ``f"{name}_unobserved"`` (imputation), as in NumPyro.
        sample_shape: extra leading shape of the draw.
        infer: configuration for inference (for example ``{"enumerate": "parallel"}``).
        rng_key: a key for this draw, overriding any ``seed`` in force.

    Returns:
        The site's value, of shape ``sample_shape + batch_shape + event_shape``.
    """
    _check_name(name, "sample")
    if not (hasattr(fn, "sample") and hasattr(fn, "log_prob")):
        raise TypeError(
            f"sample('{name}', fn): fn must be a distribution with sample/log_prob, got "
            f"{type(fn).__name__}."
        )
    inf = FrozenDict(infer) if infer else EMPTY
    if obs_mask is not None and obs is not None:
        return _masked_observe(name, fn, obs, obs_mask, tuple(sample_shape), inf)
    msg = Sample(
        name=name,
        fn=fn,
        value=None if obs is None else jnp.asarray(obs),
        is_observed=obs is not None,
        sample_shape=tuple(sample_shape),
        infer=inf,
        key=rng_key,
    )
    return perform(msg).value


def _masked_observe(name, fn, obs, obs_mask, sample_shape, infer):
    obs = jnp.asarray(obs)
    obs_mask = jnp.asarray(obs_mask, dtype=bool)
    # Latent draws for the missing entries, observation for the rest.
    missing = sample(
        f"{name}_unobserved",
        fn.mask(~obs_mask),
        sample_shape=sample_shape,
        infer=dict(infer),
    )
    value = jnp.where(_expand_mask(obs_mask, fn), obs, missing)
    msg = Sample(
        name=name,
        fn=fn.mask(obs_mask),
        value=value,
        is_observed=True,
        obs_mask=obs_mask,
        sample_shape=sample_shape,
        infer=infer,
    )
    return perform(msg).value


def _expand_mask(mask: Array, fn: Any) -> Array:
    n = len(fn.event_shape)
    return jnp.reshape(mask, mask.shape + (1,) * n) if n else mask


def param(
    name: str,
    init_value: ArrayLike | Callable | None = None,
    constraint: Any = None,
    event_dim: int | None = None,
) -> Any:
    """A learnable parameter at site ``name``.

    ``init_value`` is an array, or a function of a PRNG key that returns one. ``constraint``
    (default: real) is the parameter's support; optimisers work in unconstrained space.
    """
    _check_name(name, "param")
    if callable(init_value):
        msg = Param(name=name, init_fn=init_value, constraint=constraint, event_dim=event_dim)
    else:
        init = None if init_value is None else jnp.asarray(init_value)
        msg = Param(name=name, init_value=init, constraint=constraint, event_dim=event_dim)
    return perform(msg).value


def deterministic(name: str, value: PyTree[ArrayLike]) -> Any:
    """Record ``value`` (an array, or a pytree of arrays) at site ``name``: visible in
    traces and in MCMC samples."""
    _check_name(name, "deterministic")
    return perform(Deterministic(name=name, value=jax.tree.map(jnp.asarray, value))).value


def factor(name: str, log_factor: ArrayLike) -> None:
    """Add ``log_factor`` to the model's log density at site ``name``."""
    _check_name(name, "factor")
    perform(Factor(name=name, log_factor=jnp.asarray(log_factor)))


def subsample(data: ArrayLike, event_dim: int) -> Any:
    """Select the current plates' subsample of ``data`` (identity without subsampling)."""
    return perform(Subsample(value=jnp.asarray(data), event_dim=event_dim)).value


def prng_key(name: str | None = None) -> Any:
    """A fresh PRNG key from the ``seed`` in force, or ``None`` when there is none.

    Named requests are site-addressed; anonymous ones are numbered in program order.
    """
    return perform(PRNGKey(name=name)).value
