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
        return self.loc + self.scale * eps

    def log_prob(self, value: ArrayLike) -> Array:
        value = self._check_sample(value)
        z = (value - self.loc) / self.scale
        return -0.5 * z**2 - jnp.log(self.scale) - 0.5 * math.log(2 * math.pi)

    @property
    def mean(self) -> Array:
        return self.loc

    @property
    def variance(self) -> Array:
        return self.scale**2

    def entropy(self) -> Array:
        return 0.5 + 0.5 * math.log(2 * math.pi) + jnp.log(self.scale)

    def cdf(self, value: ArrayLike) -> Array:
        return ndtr((value - self.loc) / self.scale)

    def icdf(self, q: ArrayLike) -> Array:
        return self.loc + self.scale * ndtri(q)
