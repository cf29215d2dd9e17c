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

``get_transform(params)`` gives that map as a ``dists`` transform (:class:`FlowTransform`,
with the inverse for IAF and none for BNAF); ``get_posterior`` the base normal pushed
through it (a ``TransformedDistribution``); ``median`` the constrained image of zero noise
(NumPyro's convention for flows); ``quantiles`` is refused (no closed form).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

import dists as D
from effects import prng_key, sample

from ._autoguide import AutoContinuous
from ._elbo import with_params
from ._init import InitStrategy, as_strategy, init_to_median
from ._module import eqx_module


def _promotion():
    # flowjax relies on implicit rank and dtype promotion, which the test suite refuses.
    import contextlib

    stack = contextlib.ExitStack()
    stack.enter_context(jax.numpy_rank_promotion("allow"))
    stack.enter_context(jax.numpy_dtype_promotion("standard"))
    return stack


def _layers(flows: tuple) -> list:
    import paramax

    return [paramax.unwrap(f) for f in flows]


class FlowTransform(D.Transform):
    """A flow guide's map from standard normal noise ``e`` to the flat unconstrained
    vector ``u``: its layers in order, the vector reversed between them (so each
    autoregressive layer sees the coordinates in the other order).

    A ``dists`` transform on vectors (``domain`` and ``codomain`` ``real_vector``):
    ``t(e)`` (any batch shape, the last axis the vector), ``t.log_abs_det_jacobian(e, u)``
    (``log |det du/de|``, one per vector, computed from ``e``) and ``t.inv(u)``. The
    inverse of an IAF layer is sequential (one pass per coordinate, from the first);
    a block neural autoregressive layer has no closed-form inverse, so ``t.inv`` of an
    ``AutoBNAFNormal`` transform raises (``invertible`` is false).

    Example:
        >>> import jax, jax.numpy as jnp, dists as D
        >>> from effects import sample
        >>> from inference import SVI, Trace_ELBO, optim
        >>> def model():
        ...     sample("x", D.Normal(jnp.zeros(3), 1.0).to_event(1))
        >>> guide = AutoIAFNormal(model, num_flows=2, hidden_dims=(4,))
        >>> svi = SVI(model, guide, optim.Adam(0.01), Trace_ELBO())
        >>> t = guide.get_transform(svi.init(jax.random.key(0)).params)
        >>> e = jnp.array([0.3, -1.0, 2.0])
        >>> bool(jnp.allclose(t.inv(t(e)), e, atol=1e-6))
        True
    """

    flows: tuple
    invertible: bool = eqx.field(static=True, default=True)

    @property
    def domain(self):
        return D.constraints.real_vector

    @property
    def codomain(self):
        return D.constraints.real_vector

    def forward_and_log_det(self, x: Array) -> tuple[Array, Array]:
        """``(t(x), log |det dt/dx|)`` for one vector ``x`` (shape ``(dim,)``)."""
        log_det = jnp.zeros((), x.dtype)
        with _promotion():
            for i, f in enumerate(_layers(self.flows)):
                if i:
                    x = x[::-1]  # reverse the order between autoregressive layers
                x, ld = f.transform_and_log_det(x)
                log_det = log_det + ld
        return x, log_det

    def _batched(self, fn: Callable, x: Any) -> Any:
        x = jnp.asarray(x)
        flat = jnp.reshape(x, (-1, x.shape[-1]))
        out = jax.vmap(fn)(flat)
        return jnp.reshape(out, x.shape[:-1] + out.shape[1:])

    def __call__(self, x):
        return self._batched(lambda v: self.forward_and_log_det(v)[0], x)

    def log_abs_det_jacobian(self, x, y, intermediates=None):
        return self._batched(lambda v: self.forward_and_log_det(v)[1], x)

    def _inverse(self, y):
        if not self.invertible:
            raise NotImplementedError(
                "FlowTransform.inv: a block neural autoregressive flow (AutoBNAFNormal) has "
                "no closed-form inverse (each layer is a monotone network per coordinate, "
                "inverted only by a numerical root search). Fix: map noise forward with "
                "the transform, or use AutoIAFNormal, whose inverse is computed exactly."
            )

        def one(v):
            with _promotion():
                layers = _layers(self.flows)
                for i in reversed(range(len(layers))):
                    v = layers[i].inverse(v)
                    if i:
                        v = v[::-1]
            return v

        return self._batched(one, y)


class _FlowGuide(AutoContinuous):
    num_flows: eqx.AbstractVar[int]
    invertible: ClassVar[bool] = True

    def _make_flow(self, key: Any, dim: int) -> Any:
        raise NotImplementedError

    def _transform(self, dim: int) -> FlowTransform:
        """The flow, its layers taken from the param sites ``f"{prefix}_flow_{i}"``."""
        key = prng_key(f"_{self.prefix}_flow_init")
        key = jax.random.key(0) if key is None else key
        keys = jax.random.split(key, self.num_flows)
        flows = tuple(
            eqx_module(f"{self.prefix}_flow_{i}", self._make_flow(k, dim))
            for i, k in enumerate(keys)
        )
        return FlowTransform(flows, self.invertible)

    def _sample_latent(self, dim, args, kwargs):
        dtype = jnp.result_type(float)
        base = D.Normal(jnp.zeros((dim,), dtype), 1.0).to_event(1)
        t = self._transform(dim)
        e = sample(f"_{self.prefix}_base", base, infer={"is_auxiliary": True})
        u, log_det = t.forward_and_log_det(e)
        return sample(
            f"_{self.prefix}_latent",
            D.Delta(u, log_density=-log_det, event_dim=1),
            infer={"is_auxiliary": True},
        )

    def get_transform(self, params, *args, **kwargs) -> FlowTransform:
        """The trained flow (a :class:`FlowTransform`) from standard normal noise to the
        flat unconstrained vector ``u``, at ``params``."""
        names = [f"{self.prefix}_flow_{i}" for i in range(self.num_flows)]
        missing = [n for n in names if n not in params]
        if missing:
            raise ValueError(
                f"{type(self).__name__}.get_transform: params has no {missing}, the layers "
                f"of this flow (found {sorted(params)[:6]}). Fix: pass the params this guide "
                "was trained to, e.g. svi.get_params(state) or svi.run(...).params."
            )
        dim = self._size(self._flat_sites(args, kwargs))

        return with_params(lambda: self._transform(dim), params)

    def get_base_posterior(self, params, *args, **kwargs):
        """The base distribution: standard normal noise of the flat vector's size."""
        dim = self._size(self._flat_sites(args, kwargs))
        return D.Normal(jnp.zeros((dim,), jnp.result_type(float)), 1.0).to_event(1)

    def get_posterior(self, params, *args, **kwargs):
        """The distribution of ``u``: the base normal pushed through the flow (a
        ``TransformedDistribution``; its ``log_prob`` needs the inverse, so it raises for
        ``AutoBNAFNormal``, while ``sample`` works for both)."""
        base = self.get_base_posterior(params, *args, **kwargs)
        return D.TransformedDistribution(base, self.get_transform(params, *args, **kwargs))

    def median(self, params, *args, **kwargs):
        """The flow's image of the base's median (zero noise), constrained: NumPyro's
        convention for flow guides. It is the point where the base density is highest,
        carried through the flow; for a non-linear flow it is in general neither the
        mode nor the coordinatewise median of the guide's ``u``."""
        t = self.get_transform(params, *args, **kwargs)
        dim = self._size(self._flat_sites(args, kwargs))
        u = t(jnp.zeros((dim,), jnp.result_type(float)))
        return self.unpack_latent(u, *args, **kwargs)

    def quantiles(self, params, quantiles, *args, **kwargs):
        raise NotImplementedError(
            f"{type(self).__name__}.quantiles: a flow's marginal quantiles have no closed "
            "form (each coordinate of u depends non-linearly on all the noise before it, "
            "so the base normal's quantiles do not map to them; NumPyro does not define "
            "them for flow guides either). Fix: take quantiles of "
            "sample_posterior(key, params, sample_shape=(n,)) draws."
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
    invertible: ClassVar[bool] = False
    hidden_factors: tuple[int, ...] = eqx.field(static=True, default=(8, 8), converter=tuple)

    def _make_flow(self, key, dim):
        from flowjax.bijections import BlockAutoregressiveNetwork

        with _promotion():
            return BlockAutoregressiveNetwork(
                key, dim=dim, depth=len(self.hidden_factors), block_dim=self.hidden_factors[0]
            )
