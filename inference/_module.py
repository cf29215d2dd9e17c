"""Equinox modules as parts of models and guides.

``eqx_module(name, net)`` makes the array leaves of ``net`` one ``param`` site whose value
is the pytree of those leaves (``eqx.partition``); SVI keeps it in its state and optimises
it like any other parameter, and the module is rebuilt with ``eqx.combine``.
``random_eqx_module(name, net, prior)`` puts priors on chosen leaves instead (a Bayesian
network, like NumPyro's ``random_flax_module``): each such leaf is a sample site named
``f"{name}.{path}"``, ``path`` the leaf's path in the module (``"layers.0.weight"``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import equinox as eqx
import jax
from jaxtyping import PyTree

from effects import Param, perform, sample

_M = TypeVar("_M")


def _check(name: Any, module: Any, who: str) -> None:
    if not isinstance(name, str) or not name:
        raise TypeError(f"{who} expects a non-empty string name first, got {name!r}.")
    if not jax.tree.leaves(eqx.filter(module, eqx.is_inexact_array)):
        raise ValueError(
            f"{who}('{name}', module): the module has no floating-point array leaves, so "
            "there is nothing to learn. Fix: pass an Equinox module with weights, such as "
            "eqx.nn.MLP(...)."
        )


def eqx_module(name: str, module: _M, *, filter_spec: Callable = eqx.is_inexact_array) -> _M:
    """``module`` with its array leaves taken from the ``param`` site ``name``.

    The site's initial value is the module's own leaves; under SVI the learnt ones are
    used. Leaves that ``filter_spec`` rejects (integer arrays, functions, static fields)
    stay as they are.

    Example:
        >>> import jax, equinox as eqx
        >>> from handlers import trace
        >>> net = eqx.nn.Linear(2, 1, key=jax.random.key(0))
        >>> tr = trace(lambda: eqx_module("net", net)).get_trace()
        >>> tr["net"].value.weight.shape
        (1, 2)
    """
    _check(name, module, "eqx_module")
    params, static = eqx.partition(module, filter_spec)
    value = perform(Param(name=name, init_value=params)).value
    return eqx.combine(value, static)


def _path_name(path: tuple) -> str:
    return jax.tree_util.keystr(path, simple=True, separator=".")


def random_eqx_module(
    name: str,
    module: _M,
    prior: Any | Mapping[str, Any],
    *,
    filter_spec: Callable = eqx.is_inexact_array,
) -> _M:
    """``module`` with priors on chosen array leaves (the others stay ``param`` values).

    Args:
        name: the prefix of the sites.
        module: an Equinox module.
        prior: a distribution, put on every array leaf (broadcast to the leaf's shape,
            which becomes its event), or a dict from leaf path (``"layers.0.weight"``) to
            a distribution for the leaves named.

    A leaf with a prior is the sample site ``f"{name}.{path}"``; the leaves without one
    form the param site ``name`` (if any), a dict from path to leaf.

    Example:
        >>> import jax, equinox as eqx, dists as D
        >>> from handlers import seed, trace
        >>> net = eqx.nn.Linear(2, 1, key=jax.random.key(0))
        >>> def model():
        ...     return random_eqx_module("net", net, {"weight": D.Normal(0.0, 1.0)})
        >>> tr = trace(seed(model, 0)).get_trace()
        >>> [n for n in tr]
        ['net', 'net.weight']
    """
    _check(name, module, "random_eqx_module")
    params, static = eqx.partition(module, filter_spec)
    flat, treedef = jax.tree_util.tree_flatten_with_path(params)
    paths = [_path_name(p) for p, _ in flat]
    if isinstance(prior, Mapping):
        unknown = sorted(set(prior) - set(paths))
        if unknown:
            raise ValueError(
                f"random_eqx_module('{name}'): prior names leaves {unknown} that the module "
                f"does not have; its array leaves are {paths}. Fix: use these paths as keys."
            )
        priors = {p: prior[p] for p in paths if p in prior}
    else:
        if not (hasattr(prior, "sample") and hasattr(prior, "log_prob")):
            raise TypeError(
                f"random_eqx_module('{name}'): prior must be a distribution or a dict from "
                f"leaf path to distribution, got {type(prior).__name__}."
            )
        priors = {p: prior for p in paths}
    # The leaves without a prior: one param site whose value is a dict path -> leaf.
    rest = {p: leaf for p, (_, leaf) in zip(paths, flat) if p not in priors}
    if rest:
        rest = perform(Param(name=name, init_value=rest)).value
    leaves = []
    for p, (_, leaf) in zip(paths, flat):
        if p not in priors:
            leaves.append(rest[p])
            continue
        d = priors[p]
        if tuple(d.batch_shape) + tuple(d.event_shape) != tuple(leaf.shape):
            d = d.expand(tuple(leaf.shape)[: leaf.ndim - len(d.event_shape)])
        d = d.to_event(len(d.batch_shape)) if d.batch_shape else d
        leaves.append(sample(f"{name}.{p}", d))
    return eqx.combine(jax.tree_util.tree_unflatten(treedef, leaves), static)


def module_leaf_paths(module: PyTree) -> list[str]:
    """The paths of ``module``'s array leaves, as ``random_eqx_module`` names them."""
    flat, _ = jax.tree_util.tree_flatten_with_path(eqx.filter(module, eqx.is_inexact_array))
    return [_path_name(p) for p, _ in flat]
