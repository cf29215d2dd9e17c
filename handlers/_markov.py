"""``markov``: a Python loop whose enumerated variables depend only on the last
``history`` steps, so their enumeration dims are used again.

``for t in markov(range(T), history=k):`` performs a :class:`MarkovStep` effect when the
loop starts, at each step and when it ends. ``enum`` (``handlers.Enum``) handles them: it
notes the variables enumerated in each step and, when a step begins, releases the dims of
the variables more than ``history`` steps old, so that a chain of any length needs only
``history + 1`` enumeration dims. Without ``enum`` in force the steps mean nothing and
the loop is a plain loop.

The model must keep the promise: a site at step ``t`` may depend on the variables of steps
``t - history .. t`` only (a variable whose dim was given to a newer one would otherwise
be confused with it).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, ClassVar, Literal

import equinox as eqx

from effects import Effect, perform


class MarkovStep(Effect):
    """A ``markov`` loop starts (``kind="enter"``), takes a step (``"step"``) or ends
    (``"exit"``); ``history`` is its order. No meaning without ``enum``."""

    type_name: ClassVar[str] = "markov"
    has_default: ClassVar[bool] = True

    kind: Literal["enter", "step", "exit"] = eqx.field(static=True)
    history: int = eqx.field(static=True, default=1)
    name: None = eqx.field(static=True, default=None)
    value: Any = eqx.field(static=True, default=None)
    stop: bool = eqx.field(static=True, default=False)


def _chain(iterable: Iterable, history: int) -> Iterator:
    perform(MarkovStep("enter", history))
    for x in iterable:
        perform(MarkovStep("step", history))
        yield x
    perform(MarkovStep("exit", history))


def markov(fn: Iterable | None = None, history: int = 1, keep: bool = False) -> Iterator:
    """Iterate over ``fn`` (an iterable, e.g. ``range(T)``) as a Markov chain of order
    ``history`` (see the module docstring). Only the iterator form is built.

    Example:
        >>> import jax.numpy as jnp, dists as D
        >>> from dists.util import vindex
        >>> from effects import run, sample
        >>> from handlers import config_enumerate, enum, markov, trace
        >>> trans = jnp.array([[0.9, 0.1], [0.2, 0.8]])
        >>> def hmm():
        ...     x = 0
        ...     for t in markov(range(5)):
        ...         x = sample(f"x{t}", D.Categorical(probs=vindex(trans, (x,))))
        >>> _, (_, tr) = run(config_enumerate(hmm), enum(first_available_dim=-1) >> trace())()
        >>> [tr[f"x{t}"].value.ndim for t in range(5)]  # two dims, used in turn
        [1, 2, 1, 2, 1]
    """
    if isinstance(history, bool) or not isinstance(history, int) or history < 0:
        raise ValueError(f"markov: history must be an int >= 0, got {history!r}.")
    if keep:
        raise NotImplementedError(
            "markov(keep=True) is not built. Fix: leave keep=False (the default)."
        )
    if fn is None or callable(fn):
        raise NotImplementedError(
            "markov is built as an iterator only: `for t in markov(range(T), history=k):`. "
            "Fix: loop over markov(range(T)) instead of using it as a context manager or "
            "a decorator."
        )
    return _chain(fn, history)
