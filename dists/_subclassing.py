"""Support for distributions written the NumPyro way: the store for the attributes that
``__init__`` assigns without declaring, ``lazy_property`` and ``validate_sample``.

A NumPyro user subclasses ``Distribution`` and assigns ``self.loc = loc`` in ``__init__``
without annotating ``loc``. An ``eqx.Module`` only accepts assignments to declared fields,
so ``Distribution`` keeps such attributes in one field that holds an ``Attributes``. The
store is a pytree. Each value is split leaf by leaf: array leaves (and every leaf of a
value named in ``arg_constraints`` or ``pytree_data_fields``, even a Python float) are
pytree leaves; the other leaves (ints, strings, functions) and the tree structure are
static, as ``eqx.field(static=True)`` would keep them. The split is made once, when the
attribute is assigned, and then kept, so that a tree with its leaves replaced (by
``eqx.partition``, ``jax.tree.map`` or a transformation) has the same structure.

``lazy_property`` reads the store: an attribute assigned under the name of a lazy property
takes precedence over the computed value, as in NumPyro.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

import equinox as eqx
import jax

from ._util import is_concrete

_LEAF = jax.tree.structure(0)


class Attributes:
    """An immutable ``name -> value`` store that is a pytree (see the module docstring).

    ``set`` returns a new store; lookups are ``store[name]`` and ``name in store``.
    """

    __slots__ = ("_names", "_static", "_children", "_index")

    def __init__(self, names: tuple, static: tuple, children: tuple):
        # Per name: static = (treedef, mask of dynamic leaves, static leaves), and the child
        # is the dynamic leaves (the leaf itself when the value is one dynamic leaf).
        self._names = names
        self._static = static
        self._children = children
        self._index = {n: i for i, n in enumerate(names)}

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __getitem__(self, name: str) -> Any:
        i = self._index[name]
        treedef, mask, static = self._static[i]
        child = self._children[i]
        if treedef == _LEAF and mask == (True,):
            return child
        dynamic, static = iter(child), iter(static)
        return jax.tree.unflatten(treedef, [next(dynamic) if m else next(static) for m in mask])

    def get(self, name: str, default: Any = None) -> Any:
        return self[name] if name in self._index else default

    def set(self, name: str, value: Any, data: bool) -> Attributes:
        """A new store with ``name`` bound to ``value``.

        Args:
            name: the attribute name.
            value: any pytree.
            data: keep every leaf as a pytree leaf (for parameters), not only arrays.
        """
        leaves, treedef = jax.tree.flatten(value)
        mask = tuple(data or eqx.is_array(x) for x in leaves)
        dynamic = tuple(x for x, m in zip(leaves, mask) if m)
        static = tuple(x for x, m in zip(leaves, mask) if not m)
        child = dynamic[0] if treedef == _LEAF and mask == (True,) else dynamic
        entries = dict(zip(self._names, zip(self._static, self._children)))
        entries[name] = ((treedef, mask, static), child)
        # Sorted, so that the structure does not depend on the order of assignment.
        names = tuple(sorted(entries))
        return Attributes(
            names,
            tuple(entries[n][0] for n in names),
            tuple(entries[n][1] for n in names),
        )

    def __repr__(self) -> str:
        body = ", ".join(f"{n}={eqx.tree_pformat(self[n])}" for n in self._names)
        return f"Attributes({body})"


EMPTY = Attributes((), (), ())


def _flatten_with_keys(a: Attributes):
    keys = tuple(jax.tree_util.GetAttrKey(n) for n in a._names)
    return tuple(zip(keys, a._children)), (a._names, a._static)


def _unflatten(aux, children) -> Attributes:
    names, static = aux
    return Attributes(names, static, tuple(children))


jax.tree_util.register_pytree_with_keys(
    Attributes,
    _flatten_with_keys,
    _unflatten,
    flatten_func=lambda a: (a._children, (a._names, a._static)),
)


class lazy_property:
    """A property computed from the instance on each access, NumPyro's ``lazy_property``.

    NumPyro caches the value on the instance. A distribution here is immutable (and caching
    would change its pytree), so on an ``eqx.Module`` the value is recomputed each time,
    which costs nothing under ``jit``. On other objects it is cached in ``__dict__`` as in
    NumPyro (concrete values only). A distribution whose ``__init__`` assigned the same
    name returns the assigned value.

    Example:
        >>> import jax.numpy as jnp
        >>> from dists.util import lazy_property
        >>> class Circle:
        ...     def __init__(self, r):
        ...         self.r = r
        ...     @lazy_property
        ...     def area(self):
        ...         return jnp.pi * self.r**2
        >>> round(float(Circle(2.0).area), 4)
        12.5664
    """

    def __init__(self, wrapped: Callable[[Any], Any]):
        self.wrapped = wrapped
        functools.update_wrapper(self, wrapped)  # type: ignore[arg-type]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.wrapped(*args, **kwargs)

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        name = self.wrapped.__name__
        store = getattr(instance, "__dict__", {}).get("_attrs")
        if isinstance(store, Attributes) and name in store:
            return store[name]
        value = self.wrapped(instance)
        if not isinstance(instance, eqx.Module) and is_concrete(value):
            instance.__dict__[name] = value
        return value


def validate_sample(log_prob_fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a ``log_prob(self, value)`` to check ``value`` against the support.

    When the distribution was built with ``validate_args=True``, a concrete value outside
    ``self.support`` raises ``ValueError`` and a traced one gets an ``eqx.error_if``
    check, as the built-in families do. (NumPyro's decorator instead warns and returns
    ``-inf`` there.) Otherwise nothing is checked.

    Example:
        >>> import jax.numpy as jnp
        >>> import dists as D
        >>> from dists import constraints
        >>> from dists.util import validate_sample
        >>> class Flat(D.Distribution):
        ...     arg_constraints = {}
        ...     support = constraints.unit_interval
        ...     def __init__(self, *, validate_args=None):
        ...         super().__init__(validate_args=validate_args)
        ...     def sample(self, key, sample_shape=()):
        ...         return jnp.full(sample_shape, 0.5)
        ...     @validate_sample
        ...     def log_prob(self, value):
        ...         return jnp.zeros(jnp.shape(value))
        >>> float(Flat().log_prob(2.0))
        0.0
        >>> Flat(validate_args=True).log_prob(2.0)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: Flat: value is outside the support ...
    """

    @functools.wraps(log_prob_fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self.validate_args:
            if "value" in kwargs:
                kwargs["value"] = self._check_sample(kwargs["value"])
            else:
                args = (self._check_sample(args[0]), *args[1:])
        return log_prob_fn(self, *args, **kwargs)

    return wrapper
