"""``Predictive`` and ``log_likelihood``: prior and posterior predictive sampling.

Both are vectorised by ``jax.vmap`` over a *batched pipeline*: ``seed(keys) >>
substitute(draws) >> trace()`` whose leaves carry a leading batch axis. No special
batching code is needed inside the model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

from effects import Sample, run
from handlers import seed, substitute, trace


def _batch_size(samples: Mapping[str, Any], batch_ndims: int) -> tuple[tuple[int, ...], int]:
    shapes = {k: jnp.shape(v)[:batch_ndims] for k, v in samples.items()}
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

    ``predictive(rng_key, *args, **kwargs)`` returns a dict name -> array with the batch
    shape leading.

    Example:
        >>> import jax, dists as D
        >>> from effects import sample
        >>> def model():
        ...     sample("x", D.Normal(0.0, 1.0))
        >>> Predictive(model, num_samples=5)(jax.random.key(0))["x"].shape
        (5,)
    """

    model: Callable = eqx.field(static=True)
    posterior_samples: dict[str, Any] | None = None
    num_samples: int | None = eqx.field(static=True, default=None)
    return_sites: tuple[str, ...] | None = eqx.field(static=True, default=None)
    batch_ndims: int = eqx.field(static=True, default=1)
    exclude_deterministic: bool = eqx.field(static=True, default=True)

    def __init__(
        self,
        model: Callable,
        posterior_samples: Mapping[str, Any] | None = None,
        *,
        num_samples: int | None = None,
        return_sites: Sequence[str] | str | None = None,
        batch_ndims: int | None = None,
        exclude_deterministic: bool = True,
    ):
        if not callable(model):
            raise TypeError(f"Predictive expects a model (a callable), got {type(model).__name__}.")
        if posterior_samples is None and num_samples is None:
            raise ValueError(
                "Predictive: pass posterior_samples (posterior predictive) or num_samples "
                "(prior predictive)."
            )
        if num_samples is not None and (not isinstance(num_samples, int) or num_samples < 1):
            raise ValueError(f"Predictive: num_samples must be a positive int, got {num_samples}.")
        self.model = model
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

    def __call__(self, rng_key: Any, *args: Any, **kwargs: Any) -> dict[str, Array]:
        samples = self.posterior_samples or {}
        if samples:
            batch_shape, n = _batch_size(samples, self.batch_ndims)
            if self.num_samples is not None and self.num_samples != n:
                raise ValueError(
                    f"Predictive: num_samples={self.num_samples} does not match the "
                    f"{n} posterior draws."
                )
            flat = {
                k: jnp.reshape(v, (n,) + jnp.shape(v)[self.batch_ndims :])
                for k, v in samples.items()
            }
        else:
            batch_shape, n, flat = (self.num_samples,), self.num_samples, {}
        keys = jax.random.split(rng_key, n)
        model = self.model

        def one(pipe_leaves):
            k, s = pipe_leaves
            pipe = seed(k) >> substitute(s, on_unknown="ignore") >> trace()
            _, (_, _, tr) = run(model, pipe)(*args, **kwargs)
            return tr

        # Work out which sites to return from one unbatched run (cheap, trace time only).
        proto = jax.eval_shape(one, (keys[0], {k: v[0] for k, v in flat.items()}))
        if self.return_sites is None:
            sites = [
                name
                for name, site in proto.items()
                if (isinstance(site, Sample) and name not in samples)
                or site.type_name == "deterministic"
            ]
        elif self.return_sites == ():
            sites = [name for name, site in proto.items() if site.type_name != "plate"]
        else:
            missing = [s for s in self.return_sites if s not in proto]
            if missing:
                raise ValueError(
                    f"Predictive: return_sites {missing} are not sites of the model; sites "
                    f"are {list(proto)}."
                )
            sites = list(self.return_sites)

        if self.exclude_deterministic:
            flat = {
                k: v
                for k, v in flat.items()
                if not (k in proto and proto[k].type_name == "deterministic")
            }

        def values(k, s):
            tr = one((k, s))
            return {name: tr[name].value for name in sites}

        out = jax.vmap(values)(keys, flat)
        return {k: jnp.reshape(v, tuple(batch_shape) + v.shape[1:]) for k, v in out.items()}


def log_likelihood(
    model: Callable,
    posterior_samples: Mapping[str, Any],
    *args: Any,
    batch_ndims: int = 1,
    **kwargs: Any,
) -> dict[str, Array]:
    """Elementwise log likelihood of every observed site, for every posterior draw.

    Returns a dict name -> array of shape ``batch_shape + site batch shape``.
    """
    samples = {k: jnp.asarray(v) for k, v in posterior_samples.items()}
    batch_shape, n = _batch_size(samples, batch_ndims)
    flat = {k: jnp.reshape(v, (n,) + v.shape[batch_ndims:]) for k, v in samples.items()}

    def one(s):
        pipe = seed(jax.random.key(0)) >> substitute(s, on_unknown="ignore") >> trace()
        _, (_, _, tr) = run(model, pipe)(*args, **kwargs)
        return {
            # The site's own log_prob maps over scan-stacked axes; the likelihood is
            # reported unscaled (no subsampling or tempering factor), as in NumPyro.
            name: site.replace(scale=None).log_prob()
            for name, site in tr.items()
            if isinstance(site, Sample) and site.is_observed
        }

    out = jax.vmap(one)(flat)
    return {k: jnp.reshape(v, tuple(batch_shape) + v.shape[1:]) for k, v in out.items()}
