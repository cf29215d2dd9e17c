"""NumPyro's optimiser names as thin aliases of ``optax`` transformations.

Each function returns an ``optax.GradientTransformation``, which is what ``SVI`` takes, so
ported code such as ``from numpyro import optim; optim.Adam(1e-3)`` runs unchanged, and
any other optax transformation (``optax.adamw(...)``, a chain) can be passed instead.

Example:
    >>> from inference import optim
    >>> opt = optim.Adam(1e-3)
    >>> import optax
    >>> isinstance(opt, optax.GradientTransformation)
    True
"""

from __future__ import annotations

from typing import Any

import optax

__all__ = ["Adagrad", "Adam", "ClippedAdam", "Momentum", "RMSProp", "SGD", "optax_to_numpyro"]


def Adam(step_size: Any, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> Any:
    """Adam (``optax.adam``). ``step_size`` is a float or a schedule ``step -> float``."""
    return optax.adam(step_size, b1=b1, b2=b2, eps=eps)


def ClippedAdam(
    step_size: Any,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    clip_norm: float = 10.0,
) -> Any:
    """Adam after clipping each update's gradients to global norm ``clip_norm``."""
    return optax.chain(optax.clip_by_global_norm(clip_norm), optax.adam(step_size, b1, b2, eps))


def SGD(step_size: Any) -> Any:
    """Plain gradient descent (``optax.sgd``)."""
    return optax.sgd(step_size)


def Momentum(step_size: Any, mass: float = 0.9) -> Any:
    """Gradient descent with momentum ``mass`` (``optax.sgd(momentum=mass)``)."""
    return optax.sgd(step_size, momentum=mass)


def RMSProp(step_size: Any, gamma: float = 0.9, eps: float = 1e-8) -> Any:
    """RMSProp with decay ``gamma`` (``optax.rmsprop``)."""
    return optax.rmsprop(step_size, decay=gamma, eps=eps)


def Adagrad(step_size: Any, eps: float = 1e-8) -> Any:
    """Adagrad (``optax.adagrad``)."""
    return optax.adagrad(step_size, eps=eps)


def optax_to_numpyro(transformation: Any) -> Any:
    """NumPyro's adapter, here the identity: ``SVI`` takes optax transformations as they
    are."""
    return transformation
