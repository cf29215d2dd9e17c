"""The abstract distribution base and the generic shape wrappers.

Every distribution is an immutable ``eqx.Module``: its parameters are array leaves and
its configuration (``validate_args``, static shapes) is static. So distributions are
pytrees that pass through ``jax.jit`` and ``jax.vmap`` unchanged.

Parameters are checked against ``arg_constraints`` when a distribution is built, in one
of three modes chosen by ``validate_args``:

* ``None`` (the default): concrete values (built outside ``jit``/``vmap``/``grad``, or
  from constants) are checked eagerly and a bad one raises ``ValueError``. Traced values
  are not checked, so the check costs nothing inside compiled code.
* ``True``: as the default, and traced values get an ``eqx.error_if`` check that fires
  at run time; ``log_prob`` also checks that its values lie in the support.
* ``False``: nothing is checked.
"""

from __future__ import annotations

import abc
import dataclasses
import typing
from collections.abc import Sequence
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from . import _constraints as C
from ._subclassing import EMPTY, Attributes, lazy_property
from ._typing import Array, ArrayLike, PRNGKeyArray, Shape
from ._util import _cast, _float_dtype, is_concrete, sum_rightmost


def _found(name: str, value: Any, ok: Any) -> str:
    """``name=value``, and where ``value`` has many entries, which of them are bad."""
    v = np.asarray(value)
    text = (
        str(v)
        if v.ndim == 0
        else " ".join(np.array2string(v, threshold=12, edgeitems=2, separator=", ").split())
    )
    bad = ~np.asarray(ok, dtype=bool)
    if bad.ndim == 0:
        return f"{name}={text}"
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    count = f"{int(bad.sum())} of {bad.size} entries violate it"
    return f"{name}={text} ({count}; the first at index {first})"


def validate_param(
    dist_name: str,
    name: str,
    value: Any,
    constraint: C.Constraint,
    validate_args: bool | None,
    describe: str | None = None,
) -> Any:
    """Check a parameter ``value`` against ``constraint`` in the mode ``validate_args``.

    ``None`` (the default mode) checks concrete values and raises ``ValueError``; a
    traced value is returned unchecked, so there is no cost under ``jit``. ``True`` also
    checks traced values with ``eqx.error_if``, which fires at run time. ``False`` checks
    nothing. ``describe`` names the constraint in the message (by default its repr).

    Returns:
        ``value``, wrapped by ``eqx.error_if`` when that check was added.
    """
    if validate_args is False or (validate_args is None and not is_concrete(value)):
        return value
    what = describe or repr(constraint)
    # A concrete value stays concrete even while jit traces (a Python float parameter of
    # a NumPyro-style subclass), so the check is made then, at trace time.
    with jax.ensure_compile_time_eval():
        ok = constraint(value)
    if is_concrete(ok):
        if not np.all(np.asarray(ok)):
            raise ValueError(
                f"{dist_name}: parameter `{name}` must satisfy constraint {what}. Found "
                f"{_found(name, value, ok)}. Fix: pass a `{name}` that satisfies {what}, or "
                "pass validate_args=False to skip this check."
            )
        return value
    if not validate_args:  # default mode: a concrete value checked against a traced bound
        return value
    return eqx.error_if(
        jnp.asarray(value),
        ~jnp.all(ok),
        f"{dist_name}: parameter `{name}` must satisfy constraint {what} (checked at run "
        f"time because validate_args=True). Fix: pass a `{name}` that satisfies {what}.",
    )


def validate_sample(dist: Distribution, value: ArrayLike) -> Array:
    """Check that ``value`` lies in ``dist.support`` (used by ``log_prob`` under validation)."""
    value = jnp.asarray(value)
    ok = dist.support(value)
    msg = (
        f"{type(dist).__name__}: value is outside the support {dist.support!r}; "
        "pass values inside the support or turn off validate_args"
    )
    if is_concrete(ok):
        if not bool(jnp.all(ok)):
            raise ValueError(f"{msg}. Found value={value}.")
        return value
    return eqx.error_if(value, ~jnp.all(ok), msg + ".")


# Class-level configuration that a subclass may annotate (NumPyro's own base annotates
# them); each is made a ClassVar so that it never becomes a dataclass field.
_CLASS_CONFIG = (
    "arg_constraints",
    "support",
    "reparametrized_params",
    "has_rsample",
    "is_discrete",
    "has_enumerate_support",
    "draws_need_key",
    "pytree_data_fields",
    "pytree_aux_fields",
)
_NOTHING = object()


def _is_classvar(annotation: object) -> bool:
    if isinstance(annotation, str):
        return annotation.startswith(("ClassVar", "typing.ClassVar"))
    return annotation is ClassVar or typing.get_origin(annotation) is ClassVar


def _class_attribute(cls: type, name: str) -> tuple[object, type | None]:
    for klass in cls.__mro__:
        if name in vars(klass):
            return vars(klass)[name], klass
    return _NOTHING, None


def _field_names(cls: type) -> frozenset[str]:
    """The dataclass fields of ``cls`` (``__dataclass_fields__`` also lists ClassVars).
    Computed each time (a few microseconds, while a subclass's ``__init__`` assigns):
    a cache would be module-level state."""
    return frozenset(f.name for f in dataclasses.fields(cls))


def _data_names(cls: type) -> set[str]:
    """Names whose every leaf is a pytree leaf (parameters), as NumPyro gathers them."""
    names = set(getattr(cls, "arg_constraints", {}))
    for klass in cls.__mro__:
        names.update(vars(klass).get("pytree_data_fields", ()))
    return names


def _stored(dist: Distribution, name: str) -> Any:
    """The stored value of parameter ``name`` of ``dist`` (a field or an assigned
    attribute), or ``None``; never a computed property such as ``Bernoulli.logits``."""
    value = vars(dist).get(name)
    if value is None:
        value = vars(dist).get("_attrs", EMPTY).get(name)
    return value


class Distribution(eqx.Module):
    """Abstract base of all distributions.

    Subclasses provide ``event_shape``, ``support``, ``sample`` and ``log_prob``; and,
    where a closed form exists, ``mean``, ``variance``, ``entropy``, ``cdf``, ``icdf`` and
    ``enumerate_support``. A family stores its parameters as fields named as in
    ``arg_constraints`` and builds them with ``_init_params``, which also sets
    ``validate_args``; ``batch_shape`` then follows from the parameter shapes. Families
    whose batch shape comes from elsewhere override ``batch_shape``.

    Constructor arguments follow NumPyro's names and order so that models port
    unchanged.

    Subclassing, the NumPyro way:
        A new family can be written as NumPyro users write one, and it works unchanged.
        Give the class attributes ``arg_constraints``, ``support`` and, if ``sample`` is
        differentiable in the parameters, ``reparametrized_params`` (``has_rsample`` is
        then true when it lists every parameter). In ``__init__``, assign the parameters
        to ``self`` (no annotations are needed) and end with
        ``super().__init__(batch_shape=..., event_shape=..., validate_args=validate_args)``.
        Then write ``sample`` and ``log_prob``.

        * The instance is a pytree. An assigned attribute that holds arrays, or is named
          in ``arg_constraints`` or ``pytree_data_fields``, contributes pytree leaves, so
          it passes through ``jit``, ``vmap`` and ``grad``. Any other value (an int, a
          string, a function) is static configuration, like ``eqx.field(static=True)``:
          it must be hashable, and changing it recompiles.
        * ``batch_shape`` and ``event_shape`` are the static shapes given to
          ``super().__init__``, as in NumPyro. So build the distribution inside a
          ``vmap``-ped function to map over parameters; a distribution passed through
          ``vmap`` keeps its unmapped ``batch_shape`` (``log_prob`` works, ``sample``
          draws the unmapped shape).
        * ``super().__init__`` checks the parameters assigned before it against
          ``arg_constraints`` in the mode ``validate_args`` (see the module docstring).
          ``get_args()`` returns the stored parameters, fields and assigned attributes
          alike.
        * Attributes can only be assigned inside ``__init__`` (afterwards the instance is
          frozen), and not under the name of a class attribute or property such as
          ``support`` or ``mean``: define those on the class (a property may compute
          from the parameters). A ``lazy_property`` may be assigned.
        * Annotated fields (the Equinox way, ``loc: Array``) work as well, and mix with
          unannotated ones.
        * NumPyro's own families combine a value (or noise) of shape ``sample_shape +
          batch_shape`` with parameters of shape ``batch_shape`` by implicit rank
          promotion. That works under JAX's defaults; code that should also run with
          rank-promotion errors on (``jax_numpy_rank_promotion="raise"``) and strict
          dtype promotion pads and casts them first with ``promote_value``, as below.

        Example:
            >>> import math, jax, jax.numpy as jnp
            >>> import dists as D
            >>> from dists import constraints
            >>> from dists.util import promote_shapes, promote_value
            >>> class MyNormal(D.Distribution):
            ...     arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
            ...     support = constraints.real
            ...     reparametrized_params = ["loc", "scale"]
            ...
            ...     def __init__(self, loc=0.0, scale=1.0, *, validate_args=None):
            ...         self.loc, self.scale = promote_shapes(loc, scale)
            ...         batch_shape = jax.lax.broadcast_shapes(jnp.shape(loc), jnp.shape(scale))
            ...         super().__init__(batch_shape=batch_shape, validate_args=validate_args)
            ...
            ...     def sample(self, key, sample_shape=()):
            ...         eps = jax.random.normal(key, self.shape(sample_shape))
            ...         eps, loc, scale = promote_value(eps, self.loc, self.scale)
            ...         return loc + scale * eps
            ...
            ...     def log_prob(self, value):
            ...         value, loc, scale = promote_value(value, self.loc, self.scale)
            ...         z = (value - loc) / scale
            ...         return -0.5 * z**2 - jnp.log(scale) - 0.5 * math.log(2 * math.pi)
            >>> d = MyNormal(jnp.zeros(3), 2.0)
            >>> d.batch_shape, d.has_rsample
            ((3,), True)
            >>> jax.jit(lambda d, x: d.log_prob(x))(d, 1.0).shape
            (3,)
            >>> d.expand((2, 3)).to_event(1).sample(jax.random.key(0), (4,)).shape
            (4, 2, 3)
            >>> MyNormal(0.0, -1.0)  # doctest: +ELLIPSIS
            Traceback (most recent call last):
            ...
            ValueError: MyNormal: parameter `scale` must satisfy constraint Positive. Found ...
    """

    arg_constraints: ClassVar[dict[str, C.Constraint]] = {}
    support: ClassVar[C.Constraint] = C.real
    has_rsample: ClassVar[bool] = False
    is_discrete: ClassVar[bool] = False
    has_enumerate_support: ClassVar[bool] = False
    # False for a distribution whose ``sample`` ignores its key (``Delta``): a site of it is
    # drawn with no ``seed`` in force, as in NumPyro (a guide traced without a seed).
    draws_need_key: ClassVar[bool] = True
    pytree_data_fields: ClassVar[tuple[str, ...]] = ()

    # Static, because it decides which checks are traced. Keyword-only with a default, so
    # that families declare their parameter fields after it and wrappers need not set it.
    # ``_validate`` is ``validate_args is True``: ``log_prob`` checks its values.
    # ``_validate_explicit`` records that the user chose (True or False) at all.
    _validate: bool = eqx.field(default=False, static=True, kw_only=True)
    _validate_explicit: bool = eqx.field(default=False, static=True, kw_only=True)
    # Set by ``Distribution.__init__`` (NumPyro-style subclasses); ``None`` for families,
    # whose shapes follow from their parameters.
    _batch_shape: Shape | None = eqx.field(default=None, static=True, kw_only=True)
    _event_shape: Shape | None = eqx.field(default=None, static=True, kw_only=True)
    # Attributes that a subclass's ``__init__`` assigns without declaring them.
    _attrs: Attributes = eqx.field(default=EMPTY, kw_only=True)

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        # Runs before Equinox makes the class a dataclass, so this decides the fields.
        annotations = cls.__dict__.get("__annotations__", {})
        for name in _CLASS_CONFIG:
            if name in annotations and not _is_classvar(annotations[name]):
                annotations[name] = ClassVar
        params = cls.__dict__.get("reparametrized_params")
        if isinstance(params, (list, tuple)) and "has_rsample" not in cls.__dict__:
            cls.has_rsample = set(params) == set(cls.arg_constraints)  # NumPyro's rule

    def __new__(cls, *args: Any, **kwargs: Any):
        self = super().__new__(cls, *args, **kwargs)
        # Put the base fields in ``__dict__`` before ``__init__`` runs. Equinox flattens a
        # module whose ``__dict__`` lacks a field on a slower path, which also leaves
        # placeholder entries in every unflattened copy.
        for f in _BASE_FIELDS:
            object.__setattr__(self, f.name, f.default)
        return self

    def __init__(
        self,
        batch_shape: Sequence[int] = (),
        event_shape: Sequence[int] = (),
        *,
        validate_args: bool | None = None,
    ):
        """NumPyro's constructor: static shapes, and a check of the parameters.

        Subclasses written the NumPyro way call it at the end of their ``__init__`` (see
        the class docstring). The parameters assigned so far (the names in
        ``arg_constraints``, except ``dependent`` ones) are checked in the mode
        ``validate_args``.
        """
        self._batch_shape = tuple(int(s) for s in batch_shape)
        self._event_shape = tuple(int(s) for s in event_shape)
        self._set_validate(validate_args)
        for name, constraint in self.arg_constraints.items():
            if isinstance(constraint, C._Dependent):
                continue
            value = _stored(self, name)
            if value is None:
                continue
            checked = self._check_param(name, value, constraint, validate_args=validate_args)
            if checked is not value:
                setattr(self, name, checked)

    def __setattr__(self, name: str, value: Any) -> None:
        cls = type(self)
        if name in _field_names(cls) or (name.startswith("__") and name.endswith("__")):
            super().__setattr__(name, value)
            return
        # An undeclared attribute, as NumPyro-style ``__init__`` methods assign them.
        try:
            super().__setattr__("_attrs", self._attrs)  # only allowed during ``__init__``
        except dataclasses.FrozenInstanceError:
            raise dataclasses.FrozenInstanceError(f"cannot assign to field '{name}'") from None
        found, owner = _class_attribute(cls, name)
        if found is not _NOTHING and not isinstance(found, lazy_property):
            assert owner is not None
            raise TypeError(
                f"{cls.__name__}: cannot assign `self.{name}` in __init__, because `{name}` "
                f"is a class attribute or property of {owner.__name__}. Fix: make `{name}` a "
                f"property of {cls.__name__} computed from the parameters (or a class "
                "attribute, if it does not depend on them), or store the value under another "
                "name."
            )
        super().__setattr__("_attrs", self._attrs.set(name, value, name in _data_names(cls)))

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails: the undeclared attributes.
        store = self.__dict__.get("_attrs")
        if store is not None and name in store:
            return store[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _set_validate(self, validate_args: bool | None) -> None:
        self._validate = bool(validate_args)
        self._validate_explicit = validate_args is not None

    def get_args(self) -> dict[str, Any]:
        """The stored parameters, ``{name: value}`` for the names in ``arg_constraints``.

        Parameters that a family computes from another one (``Bernoulli.logits`` when it
        was built from ``probs``) are left out.
        """
        out = {}
        for name in self.arg_constraints:
            value = _stored(self, name)
            if value is not None:
                out[name] = value
        return out

    def _init_params(self, validate_args: bool | None, **params: ArrayLike) -> tuple[Array, ...]:
        """Set ``validate_args``, then convert, broadcast and check the named parameters.

        The parameters become float arrays of one dtype (``promote_value``'s choice: the
        widest strongly typed float among them, so a Python number or an integer count
        never widens float32 to float64). Their batch dims (all but the rightmost
        ``arg_constraints[name].event_dim``) are broadcast to one batch shape; their event
        dims are kept. Each is then checked against ``arg_constraints[name]`` in the mode
        ``validate_args`` (see ``validate_param``), except ``dependent`` ones, which the
        family checks with ``_check_param`` once the parameters they depend on are known.

        Returns:
            The parameters, in the order given.
        """
        # Plain attribute assignments rather than method calls: Equinox wraps each bound
        # method it hands out in a new module, which costs more than the rest here.
        self._validate = bool(validate_args)
        self._validate_explicit = validate_args is not None
        family = type(self).__name__
        dtype = _float_dtype(*params.values())
        arrays = {name: _cast(value, dtype) for name, value in params.items()}
        splits = {
            name: max(a.ndim - self.arg_constraints[name].event_dim, 0)
            for name, a in arrays.items()
        }
        batch = jnp.broadcast_shapes(*(a.shape[: splits[name]] for name, a in arrays.items()))
        out = []
        for name, a in arrays.items():
            a = jnp.broadcast_to(a, batch + a.shape[splits[name] :])
            constraint = self.arg_constraints[name]
            if not isinstance(constraint, C._Dependent):
                a = validate_param(family, name, a, constraint, validate_args)
            out.append(a)
        return tuple(out)

    def _check_param(
        self,
        name: str,
        value: Any,
        constraint: C.Constraint | None = None,
        *,
        validate_args: bool | None,
        describe: str | None = None,
    ) -> Any:
        """``validate_param`` for this family, against ``arg_constraints[name]`` by default."""
        if constraint is None:
            constraint = self.arg_constraints[name]
        return validate_param(type(self).__name__, name, value, constraint, validate_args, describe)

    def _check_sample(self, value: ArrayLike) -> Array:
        """``value`` as an array, checked by ``validate_sample`` when ``validate_args`` is on."""
        return validate_sample(self, value) if self._validate else jnp.asarray(value)

    @property
    def batch_shape(self) -> Shape:
        """The parameters' broadcast shape, without their event dims."""
        if self._batch_shape is not None:
            return self._batch_shape
        shapes = []
        for name, constraint in self.arg_constraints.items():
            # Only stored values: properties such as ``probs`` would compute a new array.
            value = _stored(self, name)
            if value is not None:
                shapes.append(jnp.shape(value)[: max(jnp.ndim(value) - constraint.event_dim, 0)])
        return tuple(jnp.broadcast_shapes(*shapes))

    @property
    def event_shape(self) -> Shape:
        return self._event_shape if self._event_shape is not None else ()

    @property
    def event_dim(self) -> int:
        return len(self.event_shape)

    @property
    def reparametrized_params(self) -> list[str]:
        return list(self.arg_constraints) if self.has_rsample else []

    @property
    def validate_args(self) -> bool:
        """Whether ``log_prob`` checks its values against the support: true only when the
        distribution was built with ``validate_args=True``. (Parameters are also checked
        by default; see the module docstring.)"""
        return self._validate

    @property
    def _validate_args(self) -> bool:
        # NumPyro's spelling, read by code ported from NumPyro.
        return self._validate

    def shape(self, sample_shape: Shape = ()) -> Shape:
        """``sample_shape + batch_shape + event_shape``."""
        return tuple(sample_shape) + tuple(self.batch_shape) + tuple(self.event_shape)

    @abc.abstractmethod
    def sample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        """Draw samples of shape ``sample_shape + batch_shape + event_shape``."""

    def rsample(self, key: PRNGKeyArray, sample_shape: Shape = ()) -> Array:
        if not self.has_rsample:
            raise NotImplementedError(
                f"{type(self).__name__} has no reparameterised sampler; use sample()."
            )
        return self.sample(key, sample_shape)

    def sample_with_intermediates(
        self, key: PRNGKeyArray, sample_shape: Shape = ()
    ) -> tuple[Array, list]:
        return self.sample(key, sample_shape), []

    @abc.abstractmethod
    def log_prob(self, value: ArrayLike) -> Array:
        """Log density (or mass) of ``value``; shape ``sample_shape + batch_shape``."""

    def _missing(self, what: str):
        return NotImplementedError(f"{type(self).__name__} has no closed-form {what}.")

    @property
    def mean(self) -> Array:
        raise self._missing("mean")

    @property
    def variance(self) -> Array:
        raise self._missing("variance")

    def entropy(self) -> Array:
        raise self._missing("entropy")

    def cdf(self, value: ArrayLike) -> Array:
        raise self._missing("cdf")

    def icdf(self, q: ArrayLike) -> Array:
        raise self._missing("icdf")

    def enumerate_support(self, expand: bool = True) -> Array:
        raise NotImplementedError(f"{type(self).__name__} has no finite support to enumerate.")

    def expand(self, batch_shape: Sequence[int]) -> Distribution:
        """Broadcast the batch shape to ``batch_shape``."""
        batch_shape = tuple(batch_shape)
        if batch_shape == tuple(self.batch_shape):
            return self
        return ExpandedDistribution(self, batch_shape)

    def expand_by(self, sample_shape: Sequence[int]) -> Distribution:
        return self.expand(tuple(sample_shape) + tuple(self.batch_shape))

    def to_event(self, reinterpreted_batch_ndims: int | None = None) -> Distribution:
        """Reinterpret the rightmost batch dims as event dims (all of them by default)."""
        if reinterpreted_batch_ndims is None:
            reinterpreted_batch_ndims = len(self.batch_shape)
        if reinterpreted_batch_ndims == 0:
            return self
        return Independent(self, reinterpreted_batch_ndims)

    def mask(self, mask: ArrayLike | bool) -> Distribution:
        """Mask ``log_prob`` with a boolean array broadcastable to ``batch_shape``."""
        if isinstance(mask, bool) and mask:
            return self
        return MaskedDistribution(self, mask)


# The fields every distribution has; ``Distribution.__new__`` sets their defaults.
_BASE_FIELDS = dataclasses.fields(Distribution)


def _check_batch_shape(base_shape: Shape, batch_shape: Shape, who: str) -> None:
    if len(batch_shape) < len(base_shape):
        raise ValueError(
            f"{who}: cannot expand batch_shape {base_shape} to the shorter {batch_shape}."
        )
    for b, e in zip(base_shape[::-1], batch_shape[::-1]):
        if b != 1 and b != e:
            raise ValueError(
                f"{who}: cannot expand batch_shape {base_shape} to {batch_shape}: "
                f"dimension of size {b} does not broadcast to {e}."
            )


class ExpandedDistribution(Distribution):
    """``base`` with its batch shape broadcast to ``batch_shape``."""

    base_dist: Distribution
    _batch_shape: Shape = eqx.field(static=True)

    def __init__(self, base_dist: Distribution, batch_shape: Sequence[int]):
        batch_shape = tuple(int(s) for s in batch_shape)
        if isinstance(base_dist, ExpandedDistribution):
            base_dist = base_dist.base_dist
        _check_batch_shape(tuple(base_dist.batch_shape), batch_shape, "expand")
        self.base_dist = base_dist
        self._batch_shape = batch_shape

    @property
    def batch_shape(self) -> Shape:
        return self._batch_shape

    @property
    def event_shape(self) -> Shape:
        return self.base_dist.event_shape

    @property
    def support(self):  # type: ignore[override]
        return self.base_dist.support

    @property
    def has_rsample(self):  # type: ignore[override]
        return self.base_dist.has_rsample

    @property
    def is_discrete(self):  # type: ignore[override]
        return self.base_dist.is_discrete

    @property
    def draws_need_key(self):  # type: ignore[override]
        return self.base_dist.draws_need_key

    @property
    def has_enumerate_support(self):  # type: ignore[override]
        return self.base_dist.has_enumerate_support

    @property
    def validate_args(self) -> bool:
        return self.base_dist.validate_args

    def sample(self, key, sample_shape=()):
        sample_shape = tuple(sample_shape)
        base_batch = tuple(self.base_dist.batch_shape)
        event = tuple(self.event_shape)
        extra = len(self._batch_shape) - len(base_batch)
        tail = self._batch_shape[extra:]
        # Dims where the base has size 1 and the target does not need independent draws,
        # so they are drawn as extra sample dims ``r`` and then merged with the base dims.
        r = tuple(t if b == 1 else 1 for b, t in zip(base_batch, tail))
        lead = sample_shape + self._batch_shape[:extra]
        x = self.base_dist.sample(key, lead + r)
        nl, nb = len(lead), len(base_batch)
        # x: lead + r + base_batch + event  ->  interleave (r_i, b_i) pairs, then merge.
        perm = list(range(nl))
        for i in range(nb):
            perm += [nl + i, nl + nb + i]
        perm += list(range(nl + 2 * nb, x.ndim))
        x = jnp.transpose(x, perm)
        return jnp.reshape(x, lead + tail + event)

    def log_prob(self, value):
        lp = self.base_dist.log_prob(value)
        shape = jnp.broadcast_shapes(jnp.shape(lp), self._batch_shape)
        return jnp.broadcast_to(lp, shape)

    def enumerate_support(self, expand=True):
        values = self.base_dist.enumerate_support(expand=False)
        # values: (n,) + (1,)*len(base batch) + event
        n = values.shape[0]
        values = jnp.reshape(values, (n,) + (1,) * len(self._batch_shape) + tuple(self.event_shape))
        if expand:
            values = jnp.broadcast_to(values, (n,) + self._batch_shape + tuple(self.event_shape))
        return values

    def _bcast(self, x):
        return jnp.broadcast_to(x, self._batch_shape + tuple(self.event_shape))

    @property
    def mean(self):
        return self._bcast(self.base_dist.mean)

    @property
    def variance(self):
        return self._bcast(self.base_dist.variance)

    def entropy(self):
        return jnp.broadcast_to(self.base_dist.entropy(), self._batch_shape)

    def cdf(self, value):
        return self.base_dist.cdf(value)

    def icdf(self, q):
        return self.base_dist.icdf(q)


class Independent(Distribution):
    """Reinterpret the rightmost ``reinterpreted_batch_ndims`` batch dims as event dims."""

    base_dist: Distribution
    reinterpreted_batch_ndims: int = eqx.field(static=True)

    def __init__(self, base_dist: Distribution, reinterpreted_batch_ndims: int):
        n = int(reinterpreted_batch_ndims)
        if not 0 <= n <= len(base_dist.batch_shape):
            raise ValueError(
                f"Independent: reinterpreted_batch_ndims must be between 0 and the base "
                f"batch rank {len(base_dist.batch_shape)}, got {n}."
            )
        self.base_dist = base_dist
        self.reinterpreted_batch_ndims = n

    @property
    def batch_shape(self) -> Shape:
        bs = tuple(self.base_dist.batch_shape)
        return bs[: len(bs) - self.reinterpreted_batch_ndims]

    @property
    def event_shape(self) -> Shape:
        bs = tuple(self.base_dist.batch_shape)
        return bs[len(bs) - self.reinterpreted_batch_ndims :] + tuple(self.base_dist.event_shape)

    @property
    def support(self):  # type: ignore[override]
        return C.independent(self.base_dist.support, self.reinterpreted_batch_ndims)

    @property
    def has_rsample(self):  # type: ignore[override]
        return self.base_dist.has_rsample

    @property
    def is_discrete(self):  # type: ignore[override]
        return self.base_dist.is_discrete

    @property
    def draws_need_key(self):  # type: ignore[override]
        return self.base_dist.draws_need_key

    @property
    def has_enumerate_support(self):  # type: ignore[override]
        return False

    @property
    def validate_args(self) -> bool:
        return self.base_dist.validate_args

    def sample(self, key, sample_shape=()):
        return self.base_dist.sample(key, sample_shape)

    def log_prob(self, value):
        return sum_rightmost(self.base_dist.log_prob(value), self.reinterpreted_batch_ndims)

    @property
    def mean(self):
        return self.base_dist.mean

    @property
    def variance(self):
        return self.base_dist.variance

    def entropy(self):
        return sum_rightmost(self.base_dist.entropy(), self.reinterpreted_batch_ndims)

    def to_event(self, reinterpreted_batch_ndims=None):
        if reinterpreted_batch_ndims is None:
            reinterpreted_batch_ndims = len(self.batch_shape)
        if reinterpreted_batch_ndims == 0:
            return self
        return Independent(
            self.base_dist, self.reinterpreted_batch_ndims + reinterpreted_batch_ndims
        )


class MaskedDistribution(Distribution):
    """``base`` whose ``log_prob`` is zero where ``mask`` is False."""

    base_dist: Distribution
    _mask: Array

    def __init__(self, base_dist: Distribution, mask: ArrayLike | bool):
        mask = jnp.asarray(mask, dtype=bool)
        try:
            jnp.broadcast_shapes(mask.shape, tuple(base_dist.batch_shape))
        except ValueError as e:
            raise ValueError(
                f"mask: mask of shape {mask.shape} does not broadcast with batch_shape "
                f"{tuple(base_dist.batch_shape)}."
            ) from e
        self.base_dist = base_dist
        self._mask = mask

    @property
    def batch_shape(self) -> Shape:
        return jnp.broadcast_shapes(self._mask.shape, tuple(self.base_dist.batch_shape))

    @property
    def event_shape(self) -> Shape:
        return self.base_dist.event_shape

    @property
    def support(self):  # type: ignore[override]
        return self.base_dist.support

    @property
    def has_rsample(self):  # type: ignore[override]
        return self.base_dist.has_rsample

    @property
    def is_discrete(self):  # type: ignore[override]
        return self.base_dist.is_discrete

    @property
    def draws_need_key(self):  # type: ignore[override]
        return self.base_dist.draws_need_key

    @property
    def has_enumerate_support(self):  # type: ignore[override]
        return self.base_dist.has_enumerate_support

    def sample(self, key, sample_shape=()):
        x = self.base_dist.sample(key, sample_shape)
        return jnp.broadcast_to(x, tuple(sample_shape) + self.batch_shape + self.event_shape)

    def log_prob(self, value):
        lp = self.base_dist.log_prob(value)
        shape = jnp.broadcast_shapes(jnp.shape(lp), self._mask.shape)
        # where() rather than multiply, so a -inf or NaN under the mask gives 0, not NaN.
        return jnp.where(self._mask, lp, jnp.zeros((), jnp.result_type(lp))) * jnp.ones(
            shape, jnp.result_type(lp)
        )

    def enumerate_support(self, expand=True):
        return self.base_dist.enumerate_support(expand)

    @property
    def mean(self):
        return self.base_dist.mean

    @property
    def variance(self):
        return self.base_dist.variance

    def mask(self, mask):
        if isinstance(mask, bool) and mask:
            return self
        return MaskedDistribution(self.base_dist, self._mask & jnp.asarray(mask, dtype=bool))
