"""Normalising-flow autoguides: ``AutoIAFNormal`` and ``AutoBNAFNormal``.

The flows are flowjax's bijections (Equinox modules): ``MaskedAutoregressive`` with an
affine transformer, used in its one-pass direction (the autoregressive parameters are
computed from the input, which is the inverse autoregressive flow of Kingma et al., 2016),
and ``BlockAutoregressiveNetwork`` (De Cao et al., 2019), whose forward pass is one pass
too. Their array leaves become one ``param`` site through :func:`inference.eqx_module`.
flowjax was used rather than a second implementation because its modules are plain
Equinox pytrees that fit the param machinery as they are; it is written for JAX's default
promotion rules, so its calls run inside a local ``numpy_rank_promotion("allow")``.

The guide draws standard normal noise ``e`` at the auxiliary site ``f"_{prefix}_base"``,
maps it through the flow, and records the flat vector ``u`` at ``f"_{prefix}_latent"`` as a
``Delta`` with density ``-log|det J|`` (so ``log q(u) = log N(e) - log|det J|``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

import dists as D
from effects import prng_key, sample

from ._autoguide import AutoContinuous
from ._init import InitStrategy, as_strategy, init_to_median
from ._module import eqx_module


def _promotion():
    # flowjax relies on implicit rank and dtype promotion, which the test suite refuses.
    import contextlib

    stack = contextlib.ExitStack()
    stack.enter_context(jax.numpy_rank_promotion("allow"))
    stack.enter_context(jax.numpy_dtype_promotion("standard"))
    return stack


def _apply(flows: list, e: Array) -> tuple[Array, Array]:
    import paramax

    log_det = jnp.zeros((), e.dtype)
    x = e
    with _promotion():
        for i, f in enumerate(flows):
            if i:
                x = x[::-1]  # reverse the order between autoregressive layers
            x, ld = paramax.unwrap(f).transform_and_log_det(x)
            log_det = log_det + ld
    return x, log_det


class _FlowGuide(AutoContinuous):
    def _make_flow(self, key: Any, dim: int) -> Any:
        raise NotImplementedError

    def _sample_latent(self, dim, args, kwargs):
        key = prng_key(f"_{self.prefix}_flow_init")
        key = jax.random.key(0) if key is None else key
        keys = jax.random.split(key, self.num_flows)
        flows = [
            eqx_module(f"{self.prefix}_flow_{i}", self._make_flow(k, dim))
            for i, k in enumerate(keys)
        ]
        dtype = jnp.result_type(float)
        base = D.Normal(jnp.zeros((dim,), dtype), 1.0).to_event(1)
        e = sample(f"_{self.prefix}_base", base, infer={"is_auxiliary": True})
        u, log_det = _apply(flows, e)
        return sample(
            f"_{self.prefix}_latent",
            D.Delta(u, log_density=-log_det, event_dim=1),
            infer={"is_auxiliary": True},
        )

    def get_posterior(self, params, *args, **kwargs):
        raise NotImplementedError(
            f"{type(self).__name__}.get_posterior: the flow's posterior has no closed-form "
            "distribution here. Fix: use sample_posterior(key, params, *args, "
            "sample_shape=(n,)) and summarise the draws."
        )

    def get_transform(self, params, *args, **kwargs):
        raise NotImplementedError(
            f"{type(self).__name__}.get_transform: not available for flow guides. Fix: "
            "use sample_posterior."
        )

    def median(self, params, *args, **kwargs):
        raise NotImplementedError(
            f"{type(self).__name__}.median: not available for flow guides. Fix: take the "
            "median of sample_posterior draws."
        )

    def quantiles(self, params, quantiles, *args, **kwargs):
        raise NotImplementedError(
            f"{type(self).__name__}.quantiles: not available for flow guides. Fix: take "
            "quantiles of sample_posterior draws."
        )


class AutoIAFNormal(_FlowGuide):
    """An inverse autoregressive flow over the flat unconstrained vector.

    Args:
        model: the model.
        num_flows: affine autoregressive layers (the order is reversed between them).
        hidden_dims: width and depth of each layer's masked network, ``[width] * depth``.
        prefix, init_loc_fn: as for the other autoguides (``init_loc_fn`` is unused: a
            flow starts near the identity map of standard normal noise).

    Example:
        >>> import jax, jax.numpy as jnp, dists as D
        >>> from effects import sample
        >>> def model():
        ...     sample("x", D.Normal(jnp.zeros(2), 1.0).to_event(1))
        >>> from handlers import seed, trace
        >>> guide = AutoIAFNormal(model, num_flows=1)
        >>> x = jax.jit(lambda: trace(seed(guide, 0)).get_trace()["x"].value)()
        >>> x.shape
        (2,)
    """

    model: Callable
    prefix: str = eqx.field(static=True, default="auto")
    init_loc_fn: InitStrategy = eqx.field(
        static=True, default=init_to_median(), converter=as_strategy
    )
    num_flows: int = eqx.field(static=True, default=3)
    hidden_dims: tuple[int, ...] = eqx.field(static=True, default=(32, 32), converter=tuple)

    def _make_flow(self, key, dim):
        from flowjax.bijections import Affine, MaskedAutoregressive

        with _promotion():
            return MaskedAutoregressive(
                key,
                transformer=Affine(),
                dim=dim,
                nn_width=self.hidden_dims[0],
                nn_depth=len(self.hidden_dims),
            )


class AutoBNAFNormal(_FlowGuide):
    """A block neural autoregressive flow over the flat unconstrained vector.

    Args:
        model: the model.
        num_flows: BNAF layers (the order is reversed between them).
        hidden_factors: hidden layers of each flow, each of width ``factor * dim``; their
            number is the network's depth and the first gives the block size.

    Example:
        >>> import jax, jax.numpy as jnp, dists as D
        >>> from effects import sample
        >>> def model():
        ...     sample("x", D.Normal(jnp.zeros(2), 1.0).to_event(1))
        >>> from handlers import seed, trace
        >>> guide = AutoBNAFNormal(model, num_flows=1)
        >>> x = jax.jit(lambda: trace(seed(guide, 0)).get_trace()["x"].value)()
        >>> x.shape
        (2,)
    """

    model: Callable
    prefix: str = eqx.field(static=True, default="auto")
    init_loc_fn: InitStrategy = eqx.field(
        static=True, default=init_to_median(), converter=as_strategy
    )
    num_flows: int = eqx.field(static=True, default=1)
    hidden_factors: tuple[int, ...] = eqx.field(static=True, default=(8, 8), converter=tuple)

    def _make_flow(self, key, dim):
        from flowjax.bijections import BlockAutoregressiveNetwork

        with _promotion():
            return BlockAutoregressiveNetwork(
                key, dim=dim, depth=len(self.hidden_factors), block_dim=self.hidden_factors[0]
            )
