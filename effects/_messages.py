"""Typed effect messages.

Every effect that a model performs is an instance of a final subclass of :class:`Effect`,
an immutable ``eqx.Module``. A handler that wants to change a message returns a new one
(``msg.replace(value=...)``); nothing is mutated in place.

To define a new effect, subclass :class:`Effect`, declare its fields, and, if it has a
meaning without any handler, set ``has_default = True`` and implement ``default``::

    class Cost(Effect):
        name: str = eqx.field(static=True)
        amount: Array
        value: Any = None
        stop: bool = eqx.field(static=True, default=False)

    def cost(name, amount):
        return perform(Cost(name, amount)).value
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike

from ._support import check_observed_eagerly
from ._util import EMPTY, FrozenDict

_E = TypeVar("_E", bound="Effect")


class CondIndepStackFrame(eqx.Module):
    """One enclosing plate, as recorded on a site: its name, batch dim and (sub)size."""

    name: str = eqx.field(static=True)
    dim: int = eqx.field(static=True)
    size: int = eqx.field(static=True)


class Effect(eqx.Module):
    """Abstract base of all effect messages.

    Every effect declares three fields, so that handlers read them without guessing:
    ``name`` (static; ``None`` for an anonymous effect, which ``trace`` does not record),
    ``value`` (the effect's result, ``None`` until something gives it one) and ``stop``
    (static: a handler that sets it keeps the message from the handlers outside it).
    ``has_default`` says whether the effect has a meaning when no handler in force
    handles it; if so, ``default`` gives that meaning.
    """

    # Declared here for readers and the type checker; each concrete effect declares them
    # as its own dataclass fields, in its own order (so that positional construction such
    # as ``Cost("a", 2.0)`` keeps the order the effect's author chose), and a class that
    # leaves one out is refused when it is defined (``__init_subclass__``).
    if TYPE_CHECKING:  # properties, so the type checker adds no dataclass fields

        @property
        def name(self) -> str | None: ...
        @property
        def value(self) -> Any: ...
        @property
        def stop(self) -> bool: ...

    type_name: ClassVar[str] = "effect"
    has_default: ClassVar[bool] = False
    required_fields: ClassVar[tuple[str, ...]] = ("name", "value", "stop")
    # Whether the effect declares an ``indices`` field (set for each class when it is
    # defined): effect-aware ``scan`` tags such effects with its step numbers, and ``seed``
    # and ``condition`` read them. Subclassing ``Indexed`` makes the field required.
    indexed: ClassVar[bool] = False

    def __init_subclass__(cls, abstract: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared = set()
        for klass in cls.__mro__:
            declared |= set(vars(klass).get("__annotations__", {}))
        cls.indexed = "indices" in declared
        if abstract:
            return
        missing = [f for f in cls.required_fields if f not in declared]
        if missing:
            raise TypeError(
                f"Effect {cls.__name__} does not declare the field(s) {missing}; as a "
                f"subclass of {cls.__mro__[1].__name__} it must declare all of "
                f"{list(cls.required_fields)}. Fix: add them, e.g. `name: str = "
                "eqx.field(static=True)`, `value: Any = None`, `stop: bool = "
                "eqx.field(static=True, default=False)`; or pass `abstract=True` in the "
                "class statement of an abstract base."
            )

    def default(self) -> Effect:
        """The effect's default interpretation, applied after every handler's ``process``."""
        return self

    def replace(self: _E, **changes: Any) -> _E:
        """A copy of this message with ``changes`` applied."""
        return dataclasses.replace(self, **changes)

    # Dict-style access, so NumPyro code such as ``tr["x"]["value"]`` keeps working.
    def __getitem__(self, key: str) -> Any:
        if key == "type":
            return self.type_name
        try:
            return getattr(self, key)
        except AttributeError as e:
            raise KeyError(key) from e

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: str) -> bool:
        return key == "type" or hasattr(self, key)


class Indexed(Effect, abstract=True):
    """Abstract base of effects addressed by the step numbers of the effect-aware
    ``scan`` loops around them: ``indices`` (outermost loop first), which the scan tags
    and ``seed`` folds into each site's key."""

    if TYPE_CHECKING:

        @property
        def indices(self) -> tuple: ...

    required_fields: ClassVar[tuple[str, ...]] = ("name", "value", "stop", "indices")


class Site(Indexed, abstract=True):
    """Abstract base of the named sites a model's trace holds (``sample``, ``factor``,
    ``param``, ``deterministic``): ``cond_indep_stack`` lists the plates around the site,
    innermost first."""

    if TYPE_CHECKING:

        @property
        def cond_indep_stack(self) -> tuple[CondIndepStackFrame, ...]: ...

    required_fields: ClassVar[tuple[str, ...]] = (
        "name",
        "value",
        "stop",
        "indices",
        "cond_indep_stack",
    )


class AbstractSite(Site, abstract=True):
    """Abstract base of effects that contribute a log density: ``Sample`` and ``Factor``.

    A subclass gives its elementwise log density before mask and scale in
    ``log_density`` (the factor that ``handlers.factors`` records, with the mask and scale
    beside it); ``log_prob`` applies them. A subclass that overrides ``log_prob`` alone
    still works: its factor is that log density, with no mask or scale beside it.
    """

    def log_density(self) -> Array:
        """The site's elementwise log density, before its mask and scale."""
        raise NotImplementedError(
            f"{type(self).__name__} defines neither log_density nor log_prob. Fix: define "
            "log_density (the elementwise log density before mask and scale)."
        )

    def log_prob(self) -> Array:
        """The site's elementwise log density, with its mask and scale applied."""
        n = self._stacked_axes()
        if n:
            return self._map_stacked(type(self).log_prob, n)
        return mask_and_scale(self.log_density(), self.mask, self.scale, self.name)

    @property
    def mask(self) -> Any:
        return None

    @property
    def scale(self) -> Any:
        return None

    def _stacked_axes(self) -> int:
        # A site recorded through an effect-aware `scan` has every leaf (distribution
        # parameters, value, scale, mask, and the step numbers in `indices`) stacked along
        # one leading axis per loop. Its distribution's static shapes are per step, so the
        # log density must be mapped over those axes rather than broadcast.
        idx = self.indices
        return jnp.ndim(idx[0]) if idx else 0

    def _map_stacked(self, f: Callable[[Any], Array], n: int) -> Array:
        for _ in range(n):
            f = jax.vmap(f)
        return f(self)


def mask_and_scale(
    lp: Array, mask: ArrayLike | None, scale: ArrayLike | None, name: str | None
) -> Array:
    """``lp`` (site ``name``'s elementwise log density) with its mask and scale applied.
    Refuses a mask or scale that would enlarge ``lp`` (counting terms more than once)."""
    for what, x in (("mask", mask), ("scale", scale)):
        if x is not None and _enlarges(jnp.shape(x), jnp.shape(lp)):
            raise ValueError(
                f"Site '{name}': its {what} has shape "
                f"{tuple(jnp.shape(x))}, which does not broadcast to the shape of the "
                f"site's log density {tuple(jnp.shape(lp))} without enlarging it (that "
                f"would count each term more than once). Fix: give the {what} a shape "
                f"that broadcasts to {tuple(jnp.shape(lp))} (the site's sample_shape + "
                "batch_shape), e.g. drop its extra dims."
            )
    # Broadcast explicitly (the check above allows only shapes that do not enlarge
    # the log density): implicit rank promotion is not relied on.
    given = [jnp.shape(x) for x in (mask, scale) if x is not None]
    shape = jnp.broadcast_shapes(jnp.shape(lp), *given)
    lp = jnp.broadcast_to(lp, shape)
    if mask is not None:
        lp = jnp.where(jnp.broadcast_to(mask, shape), lp, jnp.zeros((), lp.dtype))
    if scale is not None:
        lp = lp * jnp.broadcast_to(scale, shape)
    return lp


def _broadcast(a: tuple, b: tuple) -> tuple | None:
    try:
        return tuple(jnp.broadcast_shapes(tuple(a), tuple(b)))
    except ValueError:
        return None


def _size(shape: tuple) -> int:
    return int(math.prod(shape))


def _enlarges(x: tuple, target: tuple) -> bool:
    """Whether broadcasting ``x`` with ``target`` gives more elements than ``target`` (so a
    sum over the result would count terms more than once), or fails."""
    both = _broadcast(x, target)
    return both is None or _size(both) > _size(target)


class Sample(AbstractSite):
    """A random variable drawn from ``fn``, or observed at ``value`` when ``is_observed``.

    ``indices`` holds the step numbers of the enclosing effect-aware ``scan`` loops
    (outermost first); ``cond_indep_stack`` the enclosing plates (innermost first).
    """

    type_name: ClassVar[str] = "sample"
    has_default: ClassVar[bool] = True

    name: str = eqx.field(static=True)
    fn: Any
    value: Any = None
    is_observed: bool = eqx.field(static=True, default=False)
    obs_mask: Any = None
    sample_shape: tuple[int, ...] = eqx.field(static=True, default=())
    infer: FrozenDict = eqx.field(static=True, default=EMPTY)
    scale: Any = None
    mask: Any = None
    cond_indep_stack: tuple[CondIndepStackFrame, ...] = eqx.field(static=True, default=())
    key: Any = None
    indices: tuple = ()
    stop: bool = eqx.field(static=True, default=False)
    # True where the value is still to be drawn from ``fn`` although a value is given: the
    # steps of an effect-aware scan past the end of its conditioned data (forecasting).
    fill: Any = None

    def default(self) -> Sample:
        msg = self
        if msg.fill is not None:
            if msg.key is None:
                raise ValueError(
                    f"Sample site '{msg.name}' has steps past the end of its conditioned data "
                    "(an effect-aware scan longer than the data), which are drawn from the "
                    "distribution and need a PRNG key, but no `seed` handler is in force. "
                    "Fix: run under `seed(...)` (as Predictive does), or pass data for every "
                    "step."
                )
            _check_value_shape(msg)
            fill = jnp.asarray(msg.fill)
            drawn = msg.fn.sample(msg.key, msg.sample_shape)
            value = jnp.where(fill, drawn, msg.value)
            # The drawn steps are predictions, not data: their log density does not count.
            mask = ~fill if msg.mask is None else (msg.mask & ~fill)
            return msg.replace(value=value, mask=mask, fill=None)
        if msg.value is None:
            # A distribution that draws without a key (a point mass) needs no seed.
            if msg.key is None and getattr(msg.fn, "draws_need_key", True):
                raise ValueError(
                    f"Sample site '{msg.name}' needs a PRNG key but no `seed` handler is in "
                    "force. Fix: run the model under a seed, e.g. "
                    "`seed(model, rng_seed=0)(...)` or `run(model, seed(key) >> trace())`, "
                    "or give the site a value with `condition`/`substitute`."
                )
            value = msg.fn.sample(msg.key, msg.sample_shape)
            msg = msg.replace(value=value)
        else:
            _check_value_shape(msg)
            if msg.is_observed:
                check_observed_eagerly(msg)
        return msg

    def log_density(self) -> Array:
        n = self._stacked_axes()
        if n:
            return self._map_stacked(type(self).log_density, n)
        return self.fn.log_prob(self.value)


def _check_value_shape(msg: Sample) -> None:
    fn = msg.fn
    expected = tuple(msg.sample_shape) + tuple(fn.batch_shape) + tuple(fn.event_shape)
    found = tuple(jnp.shape(msg.value))
    ev = tuple(fn.event_shape)
    both = _broadcast(found, expected)
    what = "observed value" if msg.is_observed else "value"
    if both is None or (ev and found[len(found) - len(ev) :] != ev):
        raise ValueError(
            f"The {what} at site '{msg.name}' has shape {found}, which does not broadcast "
            f"with the distribution's shape {expected} (sample_shape "
            f"{tuple(msg.sample_shape)} + batch_shape {tuple(fn.batch_shape)} + "
            f"event_shape {ev}). Fix: reshape the data, or check the enclosing plates "
            f"{[f.name for f in msg.cond_indep_stack]} and the distribution's batch shape."
        )
    if _size(both) > max(_size(found), _size(expected)):
        # Each would be enlarged by the other: a (2, 1) value on a (2,) site gives a (2, 2)
        # log density, counting every term twice.
        raise ValueError(
            f"The {what} at site '{msg.name}' has shape {found}, and the distribution's "
            f"shape is {expected}: they broadcast to {both}, larger than both, so the log "
            f"density would count terms more than once. Fix: give the value shape "
            f"{expected} (or drop its size-1 dims)."
        )


class Factor(AbstractSite):
    """An arbitrary log-density term ``log_factor`` added to the model."""

    type_name: ClassVar[str] = "factor"
    has_default: ClassVar[bool] = True

    name: str = eqx.field(static=True)
    log_factor: Array
    value: Any = None
    scale: Any = None
    mask: Any = None
    cond_indep_stack: tuple[CondIndepStackFrame, ...] = eqx.field(static=True, default=())
    indices: tuple = ()
    stop: bool = eqx.field(static=True, default=False)
    is_observed: ClassVar[bool] = True

    def default(self) -> Factor:
        if self.value is None:
            return self.replace(value=jnp.zeros(jnp.shape(self.log_factor) + (0,)))
        return self

    def log_density(self) -> Array:
        return jnp.asarray(self.log_factor)


class Param(Site):
    """A learnable parameter. ``init_value`` is an array, or ``init_fn(key)`` gives one."""

    type_name: ClassVar[str] = "param"
    has_default: ClassVar[bool] = True

    name: str = eqx.field(static=True)
    init_value: Any = None
    init_fn: Callable | None = eqx.field(static=True, default=None)
    constraint: Any = None
    event_dim: int | None = eqx.field(static=True, default=None)
    value: Any = None
    key: Any = None
    indices: tuple = ()
    cond_indep_stack: tuple[CondIndepStackFrame, ...] = eqx.field(static=True, default=())
    stop: bool = eqx.field(static=True, default=False)

    def default(self) -> Param:
        if self.value is not None:
            return self
        if self.init_fn is not None:
            if self.key is None:
                raise ValueError(
                    f"Param site '{self.name}' has a callable init_value, which needs a PRNG "
                    "key, but no `seed` handler is in force. Fix: run under `seed(...)`."
                )
            return self.replace(value=self.init_fn(self.key))
        if self.init_value is None:
            raise ValueError(
                f"Param site '{self.name}' has no init_value and no handler gave it a "
                "value. Fix: pass init_value, or substitute a value for it."
            )
        return self.replace(value=self.init_value)


class Deterministic(Site):
    """A named deterministic value, recorded by ``trace``."""

    type_name: ClassVar[str] = "deterministic"
    has_default: ClassVar[bool] = True

    name: str = eqx.field(static=True)
    value: Any
    indices: tuple = ()
    cond_indep_stack: tuple[CondIndepStackFrame, ...] = eqx.field(static=True, default=())
    stop: bool = eqx.field(static=True, default=False)


class Plate(Indexed):
    """Entering a plate: its value is the (sub)sample of indices ``0..size-1`` in use."""

    type_name: ClassVar[str] = "plate"
    has_default: ClassVar[bool] = True

    name: str = eqx.field(static=True)
    size: int = eqx.field(static=True)
    subsample_size: int = eqx.field(static=True)
    dim: int | None = eqx.field(static=True, default=None)
    value: Any = None
    key: Any = None
    indices: tuple = ()
    stop: bool = eqx.field(static=True, default=False)

    def default(self) -> Plate:
        if self.value is not None:
            return self
        if self.subsample_size == self.size:
            return self.replace(value=jnp.arange(self.size))
        if self.key is None:
            raise ValueError(
                f"Plate '{self.name}' subsamples {self.subsample_size} of {self.size} "
                "indices at random, which needs a PRNG key, but no `seed` handler is in "
                "force. Fix: run under `seed(...)`, or substitute the plate's indices."
            )
        return self.replace(value=subsample_indices(self.key, self.size, self.subsample_size))


def subsample_indices(key: Any, n: int, m: int) -> Array:
    """``m`` distinct indices of ``range(n)``, uniformly at random and in random order.

    It draws only the subsample: Floyd's algorithm (one draw per index kept, each checked
    against those kept so far, so ``O(m^2)`` comparisons), then a shuffle of the ``m``
    indices so that their order is uniform too. A full permutation of ``n`` is drawn only
    when ``m`` is so large that it is cheaper (``m^2 > 64 n``).
    """
    if m * m > 64 * n:
        return jax.random.permutation(key, n)[:m]
    k_draw, k_order = jax.random.split(key)
    dtype = jnp.int64 if n >= 2**31 else jnp.int32
    tops = jnp.arange(n - m, n, dtype=dtype)
    draws = jax.random.randint(k_draw, (m,), jnp.zeros((), dtype), tops + 1, dtype=dtype)
    slots = jnp.arange(m)

    def keep(k, chosen):
        t = draws[k]
        taken = jnp.any((chosen == t) & (slots < k))
        return chosen.at[k].set(jnp.where(taken, tops[k], t))

    chosen = jax.lax.fori_loop(0, m, keep, jnp.zeros((m,), dtype))
    return jax.random.permutation(k_order, chosen)


class Subsample(Effect):
    """Select the current plates' subsample of ``value`` (see :func:`effects.subsample`)."""

    type_name: ClassVar[str] = "subsample"
    has_default: ClassVar[bool] = True

    value: Any
    event_dim: int = eqx.field(static=True, default=0)
    name: str | None = eqx.field(static=True, default=None)
    stop: bool = eqx.field(static=True, default=False)


class PRNGKey(Indexed):
    """A request for a fresh PRNG key; its value is ``None`` when no seed is in force."""

    type_name: ClassVar[str] = "prng_key"
    has_default: ClassVar[bool] = True

    name: str | None = eqx.field(static=True, default=None)
    value: Any = None
    indices: tuple = ()
    stop: bool = eqx.field(static=True, default=False)
