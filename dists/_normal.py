"""The normal distribution: the reference implementation that other families follow."""

from __future__ import annotations

import math
from typing import ClassVar

import jax
import jax.numpy as jnp
from jax.scipy.special import ndtr, ndtri

from . import _constraints as C
from ._distribution import Distribution
from ._typing import Array, ArrayLike, PRNGKeyArray, Shape
from ._util import promote_value


class Normal(Distribution):
    """Normal distribution with mean ``loc`` and standard deviation ``scale``.

    Example:
        >>> import jax, dists as D
        >>> d = D.Normal(0.0, 1.0)
        >>> d.sample(jax.random.key(0), (3,)).shape
        (3,)
    """

    arg_constraints: ClassVar = {"loc": C.real, "scale": C.positive}
    support: ClassVar = C.real
    has_rsample: ClassVar[bool] = True

    loc: Array
    scale: Array

    def __init__(
        self, loc: ArrayLike = 0.0, scale: ArrayLike = 1.0, *, validate_args: bool | None = None
    ):
        self.loc, self.scale = self._init_params(validate_args, loc=loc, scale=scale)

    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        eps = jax.random.normal(key, tuple(sample_shape) + self.batch_shape, self.loc.dtype)
        eps, loc, scale = promote_value(eps, self.loc, self.scale)
        return loc + scale * eps

    def log_prob(self, value: ArrayLike) -> Array:
        value, loc, scale = promote_value(self._check_sample(value), self.loc, self.scale)
        z = (value - loc) / scale
        return -0.5 * z**2 - jnp.log(scale) - 0.5 * math.log(2 * math.pi)

    @property
    def mean(self) -> Array:
        return self.loc

    @property
    def variance(self) -> Array:
        return self.scale**2

    def entropy(self) -> Array:
        return 0.5 + 0.5 * math.log(2 * math.pi) + jnp.log(self.scale)

    def cdf(self, value: ArrayLike) -> Array:
        value, loc, scale = promote_value(value, self.loc, self.scale)
        return ndtr((value - loc) / scale)

    def icdf(self, q: ArrayLike) -> Array:
        q, loc, scale = promote_value(q, self.loc, self.scale)
        return loc + scale * ndtri(q)
