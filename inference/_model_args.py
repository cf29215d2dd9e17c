"""How a model's arguments enter the compiled programs: traced values or static constants.

Everything in ``inference`` that runs a model (``MCMC``, ``initialize_model``,
``Predictive``, ``log_likelihood``, ``to_arviz`` and the model's abstract trace) splits the
model's positional and keyword arguments by one rule, :class:`ModelArgs`. Containers
(tuples, lists, dicts, NamedTuples, Equinox modules, any registered pytree) are walked and
the rule applies to each leaf:

=====================================  ================  ==================  ===============
leaf                                   default (None)    jit_model_args=True  False
=====================================  ================  ==================  ===============
JAX array                              traced            traced               static (bytes)
NumPy array or NumPy scalar            static (bytes)    traced               static (bytes)
Python bool, int, float, complex       static (value)    traced               static (value)
str, None, any other object            static (value)    static (value)       static (value)
=====================================  ================  ==================  ===============

*Traced* leaves are arguments of the compiled program: a new value of the same shape and
dtype reuses it. *Static* leaves are constants of the program and part of its cache key: a
new value compiles a new program. A static NumPy array is keyed by its dtype, shape and
bytes (a copy is kept, so changing the caller's array in place afterwards changes
nothing), and the model sees the NumPy array itself, so NumPy calls on data work as in
NumPyro (``np.unique(x)``, ``int(x.max())``, ``len(x)``). Python scalars are keyed by type
and value, so ``plate("J", J)`` and ``range(n)`` work with ``J`` and ``n`` plain ints.
Other objects (an ``argparse.Namespace``, a function) are keyed by type and ``==``.

So, by default: pass data that changes between calls as JAX arrays (``jnp.asarray``), and
sizes, flags and data the model inspects in Python as Python or NumPy values.
``jit_model_args=True`` traces every number (NumPyro's ``jit_model_args=True``: the model
then sees tracers, so a size used by ``plate`` must come from an array's shape);
``jit_model_args=False`` makes every argument a constant.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable, Mapping
from typing import Any, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

_NUMBER = (bool, int, float, complex)


def _is_jax_array(x: Any) -> bool:
    return isinstance(x, jax.Array)


def is_traced(x: Any) -> bool:
    """Whether ``x`` holds a JAX tracer somewhere (a call under an outer ``jit``/``vmap``)."""
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(x))


class Const:
    """A static leaf: hashable, compared by type and value (arrays by dtype, shape, bytes).

    It is part of a compiled program's cache key, so equal constants share one program.
    """

    __slots__ = ("value", "_key", "_hash")

    def __init__(self, value: Any):
        if isinstance(value, (np.ndarray, np.generic)) or _is_jax_array(value):
            host = np.array(value, copy=True)  # a private copy: later in-place edits don't leak
            host.setflags(write=False)
            digest = hashlib.blake2b(np.ascontiguousarray(host).tobytes(), digest_size=16)
            key: Any = ("array", type(value).__name__, host.dtype.str, host.shape, digest.digest())
            self.value = host if not _is_jax_array(value) else value
        else:
            try:
                key = (type(value), hash(value))
            except TypeError:
                # Unhashable objects (an argparse.Namespace) are compared with ``==``.
                key = (type(value), None)
            self.value = value
        self._key = key
        self._hash = hash(key)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Const) or self._key != other._key:
            return False
        if self._key[0] == "array":
            return True  # same dtype, shape and digest of the bytes
        if self.value is other.value:
            return True
        try:
            return bool(self.value == other.value)
        except Exception:  # an `==` that returns an array or raises: identity only
            return False

    def __repr__(self) -> str:
        if self._key[0] == "array":
            return f"Const(array {self._key[2]}{list(self._key[3])})"
        return f"Const({self.value!r})"


def _traced(leaf: Any, jit_model_args: bool | None) -> bool:
    if _is_jax_array(leaf):
        return jit_model_args is not False
    if jit_model_args is not True:
        return False
    return isinstance(leaf, (np.ndarray, np.generic)) or (
        isinstance(leaf, _NUMBER) and not isinstance(leaf, str)
    )


class ModelArgs(eqx.Module):
    """A model's ``(args, kwargs)``, split into traced leaves and static constants.

    A pytree whose leaves are the traced arguments only, so it passes into ``jit``,
    ``vmap`` and ``eval_shape`` with the static part in its structure (the cache key). See
    the module docstring for the rule. ``args`` and ``kwargs`` give the arguments back,
    with tracers in place of the traced leaves inside a transformation.

    Example:
        >>> import numpy as np, jax.numpy as jnp
        >>> m = ModelArgs.of((8, np.ones(3), jnp.zeros(2)), {"y": None})
        >>> [type(a).__name__ for a in m.args]
        ['int', 'ndarray', 'ArrayImpl']
        >>> len(jax.tree.leaves(m))  # only the JAX array is traced
        1
    """

    leaves: tuple
    static: tuple = eqx.field(static=True)  # (treedef, Const-or-None per leaf, mode)

    @staticmethod
    def of(
        args: tuple = (),
        kwargs: Mapping[str, Any] | None = None,
        jit_model_args: bool | None = None,
    ) -> ModelArgs:
        if jit_model_args not in (None, True, False):
            raise ValueError(
                f"jit_model_args must be None (JAX arrays traced, everything else static), "
                f"True (every number traced) or False (everything static); got "
                f"{jit_model_args!r}."
            )
        leaves, treedef = jax.tree.flatten((tuple(args), dict(kwargs or {})))
        traced: list[jax.Array | None] = []
        consts: list[Const | None] = []
        for leaf in leaves:
            if _traced(leaf, jit_model_args):
                if not isinstance(leaf, jax.Array):
                    leaf = jnp.asarray(leaf)
                traced.append(leaf)
                consts.append(None)
            else:
                traced.append(None)
                consts.append(Const(leaf))
        return ModelArgs(tuple(traced), (treedef, tuple(consts), jit_model_args))

    @property
    def jit_model_args(self) -> bool | None:
        return self.static[2]

    def _merged(self) -> tuple[tuple, dict]:
        treedef, consts, _ = self.static
        leaves = [c.value if c is not None else x for x, c in zip(self.leaves, consts)]
        return jax.tree.unflatten(treedef, leaves)

    @property
    def args(self) -> tuple:
        return self._merged()[0]

    @property
    def kwargs(self) -> dict:
        return self._merged()[1]

    def call(self, fn: Callable) -> Any:
        """``fn(*args, **kwargs)``."""
        args, kwargs = self._merged()
        return fn(*args, **kwargs)

    def with_static(self, index: int) -> ModelArgs:
        """These arguments with traced leaf ``index`` made a constant (for error reports)."""
        treedef, consts, mode = self.static
        leaves = list(self.leaves)
        new_consts = list(consts)
        new_consts[index] = Const(leaves[index])
        leaves[index] = None
        return ModelArgs(tuple(leaves), (treedef, tuple(new_consts), mode))

    def traced_paths(self, model: Callable | None = None) -> list[tuple[int, str]]:
        """``(leaf index, readable name)`` of each traced leaf, e.g. ``"x"`` or
        ``"data['y']"``, with positional arguments named from ``model``'s signature."""
        treedef, _, _ = self.static
        args, kwargs = jax.tree.unflatten(treedef, list(range(len(self.leaves))))
        names: list[str] = []
        if model is not None:
            try:
                params = list(inspect.signature(model).parameters.values())
                names = [
                    p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                ]
            except (TypeError, ValueError):
                names = []
        out = []
        for path, i in jax.tree_util.tree_flatten_with_path((args, kwargs))[0]:
            if self.leaves[i] is None:
                continue
            group, first, *rest = path
            if group.idx == 0:  # positional
                pos = first.idx
                head = names[pos] if pos < len(names) else f"args[{pos}]"
            else:
                head = first.key
            out.append((i, head + jax.tree_util.keystr(tuple(rest))))
        return out


def _all_static(margs: ModelArgs) -> ModelArgs:
    for i, _ in margs.traced_paths():
        margs = margs.with_static(i)
    return margs


class TracedArgumentError(TypeError):
    """A model did something with a traced argument that needs a concrete value."""


_TRACER_ERRORS = (
    jax.errors.ConcretizationTypeError,
    jax.errors.TracerArrayConversionError,
    jax.errors.TracerBoolConversionError,
    jax.errors.TracerIntegerConversionError,
    jax.errors.NonConcreteBooleanIndexError,
)


def _from_tracing(exc: BaseException) -> bool:
    """Whether ``exc`` is the kind of error a traced value causes."""
    return isinstance(exc, _TRACER_ERRORS) or "Tracer" in str(exc)


class explain_traced_args:
    """Turn a model's failure on a traced argument into an error that names the argument.

    ``rerun(margs)`` runs the model abstractly (``eval_shape``). When the block raises and
    the same run succeeds with every argument static, the failure came from tracing: the
    arguments whose being traced breaks the run are found by making each static in turn.
    Only the error path pays for the extra runs.
    """

    def __init__(self, model: Callable, margs: ModelArgs, rerun: Callable[[ModelArgs], Any]):
        self.model, self.margs, self.rerun = model, margs, rerun

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Literal[False]:
        if exc is None or not isinstance(exc, Exception) or isinstance(exc, TracedArgumentError):
            return False
        if not _from_tracing(exc):
            return False
        paths = self.margs.traced_paths(self.model)
        if is_traced(self.margs.leaves):
            return False  # inside a transformation: the caller outside it explains
        if not paths or not self._runs(_all_static(self.margs)):
            return False
        culprits = [name for i, name in paths if self._runs(self.margs.with_static(i))]
        names = culprits or [name for _, name in paths]
        model_name = getattr(self.model, "__name__", repr(self.model))
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        listed = ", ".join(f"`{n}`" for n in names)
        raise TracedArgumentError(
            f"Model '{model_name}' needs a concrete value for its argument {listed}, but "
            f"{'it is' if len(names) == 1 else 'they are'} traced: JAX arrays are traced "
            f"arguments of the compiled program, so the model sees tracers, not values "
            f"({type(exc).__name__}: {first}). Fix: pass {listed} as a Python number or a "
            "NumPy array (a static constant: a new value compiles again), or pass "
            "jit_model_args=False to make every argument static."
        ) from exc

    def _runs(self, margs: ModelArgs) -> bool:
        try:
            self.rerun(margs)
        except Exception:
            return False
        return True
