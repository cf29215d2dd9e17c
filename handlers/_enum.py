"""``enum`` and ``config_enumerate``: parallel enumeration of discrete latent sites.

Each latent discrete site marked ``infer={"enumerate": "parallel"}`` (by hand, or for
every discrete site with ``config_enumerate``) gets a batch dim of its own, left of the
plates (``first_available_dim = -(max_plate_nesting + 1)`` and further left). Its value is
its support, ``fn.enumerate_support(expand=False)``, laid along that dim, so everything
downstream of it is computed once per value by broadcasting. Nothing is summed here:
every sample site's message gets ``infer["dim_labels"]`` (dim -> enumerated site, for the
enumeration dims in use), so that ``handlers.factors`` labels the dims of its log density
and a contraction (``inference.contract_factors``) sums the enumerated values out.

Inference. The potential that NUTS and HMC sample (``inference.potential_energy``) sums
out every latent site marked for enumeration that has no value: mark the sites (NumPyro's
``config_enumerate(model)`` is the usual way); a discrete latent site that is not marked
is refused with an error that says so (enumeration is not automatic, unlike NumPyro, so
that a model's coordinates never change silently). The marked sites take no initial
value and are not in the samples; ``inference.infer_discrete`` (or
``Predictive(..., infer_discrete=True)``) draws them afterwards. As in NumPyro, the
deterministic sites in the samples are computed with the marked sites drawn from their
prior under a fixed key (so they have their own shapes, with no enumeration dim); one
that depends on a marked site is a prior draw of it, and ``Predictive(model, samples,
infer_discrete=True)`` gives it at posterior draws instead. ``inference.log_likelihood``
sums the marked sites out when the samples have no draws of them.

The ``Enum`` handler answers the dim requests itself (``AllocateDim``/``ReleaseDim``, as
``handlers.dims`` does), so no other dims handler is needed; ``markov`` releases the dims
of variables that fall out of its history and they are used again.

Inside an effect-aware ``scan`` (``effects.scan``, NumPyro's
``numpyro.contrib.control_flow.scan``) ``Enum`` gives the loop its own meaning
(``handlers._markov.enum_scan``): each site the body enumerates keeps one dim at every
step, and ``history`` more dims (labelled ``_PREV_x``, ``_PREV__PREV_x``, ...) hold its
values at the steps before, reached through the carry; after each step the carry's dims
move one step back. So every step has the same shapes, the loop stays one ``lax.scan``
(compiled once, whatever its length), the dims are released when it ends, and the
factors come out stacked along time for ``inference.contract_factors`` to contract as a
chain (``scan(..., contraction="parallel" | "sequential" | "auto")``). Not built: an
enumerated site in nested scans, ``reverse=True``, chain variables of one scan in
different plates, and a value carried out of the loop that still depends on its
enumerated sites; each raises an error naming the site.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Literal, overload

import equinox as eqx
import jax.numpy as jnp

from effects import AllocateDim, Handled, Handler as _Handler, ReleaseDim, Sample
from effects._control_flow import Scan
from effects._plate import describe_dims

from ._common import wrap
from ._dims import Dims, DimTable
from ._infer_config import InferConfig
from ._markov import MarkovStep, enum_scan


def enumerated(msg: Any) -> bool:
    """Whether ``msg`` is a latent sample site marked for parallel enumeration that has no
    value yet (a conditioned or substituted site keeps its value)."""
    return (
        isinstance(msg, Sample)
        and not msg.is_observed
        and msg.value is None
        and msg.infer.get("enumerate") == "parallel"
    )


def _check_enumerable(msg: Sample) -> None:
    how = msg.infer.get("enumerate")
    if how not in (None, "parallel"):
        raise ValueError(
            f"Site '{msg.name}': infer['enumerate'] is {how!r}; only 'parallel' "
            "enumeration is built. Fix: use infer={'enumerate': 'parallel'} (or "
            "config_enumerate(model)), or leave the site unmarked."
        )
    if not getattr(msg.fn, "has_enumerate_support", False):
        raise ValueError(
            f"Site '{msg.name}' is marked for enumeration, but its distribution "
            f"{type(msg.fn).__name__} has no finite support to enumerate. Fix: remove "
            "infer={'enumerate': ...} from the site, or use a distribution with "
            "enumerate_support (Bernoulli, Categorical, DiscreteUniform, Binomial, ...)."
        )
    if msg.sample_shape:
        raise ValueError(
            f"Site '{msg.name}' is enumerated but has sample_shape {msg.sample_shape}; an "
            "enumerated site takes one value per plate element. Fix: express the "
            "repetition with a plate around the site instead of sample_shape."
        )


class EnumState(eqx.Module):
    """The dims in use, the open ``markov`` loops (innermost last): each a pair
    ``(history, frames)``, ``frames`` holding the names of the variables enumerated in
    each recent step, and, inside an enumerated ``scan`` body, how its chain is to be
    contracted (static data only)."""

    table: DimTable = DimTable()
    chains: tuple = eqx.field(static=True, default=())
    contraction: str | None = eqx.field(static=True, default=None)

    def step(self, kind: str, history: int) -> EnumState:
        if kind == "enter":
            return EnumState(self.table, self.chains + ((history, ()),), self.contraction)
        if not self.chains:
            raise RuntimeError("markov: a step or exit with no markov loop open.")
        if kind == "exit":
            return EnumState(self.table, self.chains[:-1], self.contraction)
        h, frames = self.chains[-1]
        frames = frames + ((),)
        table = self.table
        while len(frames) > h + 1:
            for owner in frames[0]:
                for d in table.holds(owner):
                    table = table.remove(d, owner)
            frames = frames[1:]
        return EnumState(table, self.chains[:-1] + ((h, frames),), self.contraction)

    def note(self, name: str) -> tuple:
        if not self.chains or not self.chains[-1][1]:
            return self.chains
        h, frames = self.chains[-1]
        return self.chains[:-1] + ((h, frames[:-1] + (frames[-1] + (name,),)),)


class Enum(_Handler):
    """Enumerates marked discrete sites in parallel; see the module docstring.

    ``max_plate_nesting`` is ``-first_available_dim - 1``: plates live in dims
    ``-max_plate_nesting .. -1`` and enumeration dims left of them. The state is the
    table of dims in use and the open ``markov`` loops (static data only).
    """

    handles: ClassVar = (Sample, AllocateDim, ReleaseDim, MarkovStep, Scan)
    max_plate_nesting: int | None = eqx.field(static=True, default=None)

    def init_state(self) -> EnumState:
        return EnumState()

    def output(self, state: EnumState) -> None:
        return None

    def process(self, msg, state: EnumState):
        if isinstance(msg, MarkovStep):
            return msg, state.step(msg.kind, msg.history)
        if isinstance(msg, Scan):
            return enum_scan(self, msg, state)
        if isinstance(msg, (AllocateDim, ReleaseDim)):
            msg, table = Dims(self.max_plate_nesting).process(msg, state.table)
            return msg, EnumState(table, state.chains, state.contraction)
        table = state.table
        if enumerated(msg):
            _check_enumerable(msg)
            if len(msg.indices) > 1:
                raise NotImplementedError(
                    f"Site '{msg.name}' is enumerated inside nested effect-aware scans "
                    f"({len(msg.indices)} levels); enumeration is built for one scan "
                    "level. Fix: enumerate it in a single scan (with the inner loop as a "
                    "plate or a Python loop over markov), or leave it unmarked."
                )
            msg, table = self._enumerate(msg, table)
            state = EnumState(table, state.note(str(msg.name)), state.contraction)
        labels = {d: o for d, (o, k) in table.in_use().items() if k == "enum"}
        if labels:
            extra: dict = {"dim_labels": _frozen(labels)}
            if state.contraction is not None:
                extra["scan_contraction"] = state.contraction
            msg = msg.replace(infer=msg.infer.merged(extra))
        return msg, state

    def _enumerate(self, msg: Sample, table: DimTable) -> tuple[Sample, DimTable]:
        request = AllocateDim(str(msg.name), "enum")
        # A site that already holds a dim (a scan step run again) keeps it.
        held = table.holds(str(msg.name))
        if held:
            dim = held[0]
        else:
            dim = Dims(self.max_plate_nesting)._enum_dim(request, table)
            table = table.add(dim, str(msg.name), "enum")
        fn = msg.fn
        support = jnp.asarray(fn.enumerate_support(expand=False))
        event = tuple(fn.event_shape)
        k = support.shape[0]
        batch_ndim = len(fn.batch_shape)
        if -dim <= batch_ndim and fn.batch_shape[dim] != 1:
            raise ValueError(
                f"Site '{msg.name}' is enumerated at dim {dim}, but its distribution's "
                f"batch_shape {tuple(fn.batch_shape)} already has size "
                f"{fn.batch_shape[dim]} there (dims in use: "
                f"{describe_dims(table.in_use())}). Fix: raise max_plate_nesting (or "
                "lower first_available_dim) so enumeration dims lie left of every batch dim."
            )
        value = jnp.reshape(support, (k,) + (1,) * (-dim - 1) + event)
        # The distribution is broadcast to the enumerated value's batch shape, so that the
        # log density has the enumeration dim and no dim is counted twice.
        batch = tuple(
            jnp.broadcast_shapes(tuple(fn.batch_shape), value.shape[: value.ndim - len(event)])
        )
        if batch != tuple(fn.batch_shape):
            fn = fn.expand(batch)
        return msg.replace(value=value, fn=fn), table


def _frozen(labels: dict) -> tuple[tuple[int, str], ...]:
    # (dim, site) pairs, leftmost dim first: hashable static data (``dict(...)`` reads it).
    return tuple(sorted((int(d), s) for d, s in labels.items()))


@overload
def enum(fn: None = None, first_available_dim: int | None = None) -> Enum: ...
@overload
def enum(fn: Callable, first_available_dim: int | None = None) -> Handled: ...
def enum(fn: Callable | None = None, first_available_dim: int | None = None) -> Any:
    """Enumerate the discrete latent sites marked ``infer={"enumerate": "parallel"}``.

    Args:
        fn: a model to wrap (NumPyro style), or ``None`` for the handler itself.
        first_available_dim: the rightmost dim enumeration may use, ``-(max_plate_nesting
            + 1)``; ``None`` allows no enumerated site (only plates).

    Returns:
        The ``Enum`` handler, or ``fn`` wrapped by it. Each enumerated site's value has
        shape ``(K,) + (1,) * (-dim - 1) + event_shape`` (its support along its own dim).

    Example:
        >>> import jax.numpy as jnp, dists as D
        >>> from effects import plate, run, sample
        >>> from handlers import config_enumerate, enum, trace
        >>> def model():
        ...     z = sample("z", D.Categorical(probs=jnp.array([0.2, 0.3, 0.5])))
        ...     with plate("n", 2):
        ...         sample("x", D.Normal(z.astype(jnp.float32), 1.0), obs=jnp.zeros(2))
        >>> _, (_, tr) = run(config_enumerate(model), enum(first_available_dim=-2) >> trace())()
        >>> tr["z"].value.shape, dict(tr["x"].infer["dim_labels"])
        ((3, 1), {-2: 'z'})
    """
    if first_available_dim is not None and (
        isinstance(first_available_dim, bool)
        or not isinstance(first_available_dim, int)
        or first_available_dim >= 0
    ):
        raise ValueError(
            f"enum: first_available_dim must be a negative int (-(max_plate_nesting + 1)), "
            f"got {first_available_dim!r}."
        )
    m = None if first_available_dim is None else -first_available_dim - 1
    return wrap(fn, Enum(m))


class _EnumerateConfig(eqx.Module):
    """``config_fn`` of ``config_enumerate`` (a hashable value, so the configured model
    compiles once)."""

    default: str = eqx.field(static=True)

    def __call__(self, msg: Sample) -> dict | None:
        if msg.is_observed or "enumerate" in msg.infer:
            return None
        if not getattr(msg.fn, "has_enumerate_support", False):
            return None
        return {"enumerate": self.default}


def config_enumerate(
    fn: Callable | None = None, default: Literal["parallel"] = "parallel"
) -> InferConfig | Handled:
    """Mark every latent site whose distribution has ``enumerate_support`` for
    enumeration (``infer={"enumerate": default}``), unless the site says otherwise.

    Example:
        >>> import jax, dists as D
        >>> from effects import sample
        >>> from handlers import config_enumerate, seed, trace
        >>> def model():
        ...     sample("z", D.Bernoulli(probs=0.3))
        ...     sample("x", D.Normal(0.0, 1.0))
        >>> tr = trace(seed(config_enumerate(model), rng_seed=0)).get_trace()
        >>> tr["z"].infer["enumerate"], "enumerate" in tr["x"].infer
        ('parallel', False)
    """
    if default != "parallel":
        raise ValueError(
            f"config_enumerate: default must be 'parallel' (the enumeration built), got "
            f"{default!r}."
        )
    return wrap(fn, InferConfig(_EnumerateConfig(default)))
