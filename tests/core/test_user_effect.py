"""Worked example: a new effect and a handler for it, defined outside the library.

Everything here uses only the public API of ``effects`` and ``handlers``; nothing in the
library knows about ``Cost`` or ``TemperedObserve``. Read it top to bottom as a tutorial.

1. An *effect* is a final ``eqx.Module`` subclass of ``effects.Effect``: the message a
   model sends. It carries a ``name`` (static, used by ``trace``, ``scope``, ``seed``), a
   ``value`` (what the model gets back), a static ``stop`` flag, and ``indices`` (filled in
   with the step numbers inside an effect-aware ``scan``). Other fields are the payload.
2. A *handler* is an immutable ``eqx.Module`` subclass of ``effects.Handler`` that declares
   the effect types it ``handles``. Its state is explicit: ``init_state`` gives the
   initial state, ``process``/``postprocess`` return a new message and a new state, and
   ``output`` turns the final state into what ``run`` returns.
3. An effect either has a *default* interpretation (used when no handler changes it) or
   has none, in which case running it without a handler is an error.
"""

from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import Array, ArrayLike
from scipy.stats import norm

import dists as D
from effects import (
    AbstractSite,
    Effect,
    Handler,
    UnhandledEffectError,
    perform,
    run,
    sample,
    scan,
)
from handlers import scale, seed, trace

# --- 1. An effect with no default: a cost the model incurs ----------------------------


class Cost(Effect):
    """The model incurs ``amount`` at the named point. ``value`` is filled in by a handler
    (here: the running total so far). There is no default: a model that incurs costs
    must be run under a handler that accounts for them."""

    type_name: ClassVar[str] = "cost"  # what `tr[name]["type"]` reports

    name: str = eqx.field(static=True)
    amount: Array
    value: Any = None
    indices: tuple = ()
    stop: bool = eqx.field(static=True, default=False)


def cost(name: str, amount: ArrayLike) -> Array:
    """The primitive that models call, in the style of ``sample``: build the message,
    ``perform`` it, and return the value the handlers gave it."""
    return perform(Cost(name=name, amount=jnp.asarray(amount, dtype=jnp.float64))).value


# --- 2. A handler for it: accumulate the total --------------------------------------


class CostAccumulator(Handler):
    """Sums every cost. The state is the running total, a scalar array, so it can be
    carried through ``lax.scan`` (``scan_mode = "carry"``); ``output`` is the total."""

    handles: ClassVar = (Cost,)  # it never sees Sample, Param, ...
    scan_mode: ClassVar[str] = "carry"

    # Handler data are pytree leaves (here: a weight), configuration would be static.
    weight: Array = eqx.field(default_factory=lambda: jnp.ones(()))

    def init_state(self) -> Array:
        return jnp.zeros(())

    def process(self, msg: Cost, state: Array) -> tuple[Cost, Array]:
        total = state + self.weight * jnp.sum(msg.amount)
        return msg.replace(value=total), total

    def output(self, state: Array) -> Array:
        return state


def shopping(prices):
    """A model that draws a random tip and incurs three costs."""
    cost("bread", prices[0])
    cost("milk", prices[1])
    tip = sample("tip", D.Normal(1.0, 0.1))
    return cost("tip_paid", tip)  # the running total after the tip


PRICES = jnp.array([2.5, 1.25])


def test_handler_output_is_the_total():
    total_seen, (total,) = run(lambda: [cost("a", 1.5), cost("b", 2.5)], CostAccumulator())()
    np.testing.assert_allclose(total_seen, [1.5, 4.0])  # running totals, as values
    np.testing.assert_allclose(total, 4.0)
    # Handlers are values: the same handler with other data is another interpretation.
    _, (total,) = run(lambda: cost("a", 1.5), CostAccumulator(weight=jnp.asarray(2.0)))()
    np.testing.assert_allclose(total, 3.0)


def test_composes_with_seed_and_trace():
    # The pipeline reads inside-out: CostAccumulator sees messages first, then seed,
    # then trace. `run` returns one output per handler.
    pipeline = CostAccumulator() >> seed(rng_seed=0) >> trace()
    value, (total, _, tr) = run(shopping, pipeline)(PRICES)
    tip = float(tr["tip"].value)
    np.testing.assert_allclose(total, 3.75 + tip)
    np.testing.assert_allclose(value, total)
    # trace records the new effect like any named site, with its dict-style view.
    assert list(tr) == ["bread", "milk", "tip", "tip_paid"]
    assert tr["milk"]["type"] == "cost" and float(tr["milk"]["value"]) == 3.75
    # seed did not see the costs (it does not handle them); the tip's draw is the one
    # the model gives without any cost accounting.
    just_the_tip = trace(seed(lambda: sample("tip", D.Normal(1.0, 0.1)), rng_seed=0))
    assert tip == float(just_the_tip.get_trace()["tip"].value)
    # trace records on the way back to the model (in `postprocess`), after every
    # handler's `process`, so even a trace inside the accumulator sees the totals.
    pipeline = trace() >> CostAccumulator() >> seed(rng_seed=0)
    _, (tr_inner, _, _) = run(shopping, pipeline)(PRICES)
    assert float(tr_inner["milk"].value) == 3.75


def test_works_inside_effect_aware_scan():
    # Costs of 0, 1, ..., T-1 incurred in a loop. The accumulator's state is carried
    # through lax.scan; the trace (scan_mode "stack") holds each cost site along time.
    T = 6

    def model():
        def body(carry, t):
            return carry, cost("step", t.astype(jnp.float64))

        return scan(body, 0.0, jnp.arange(T))[1]

    running, (total, tr) = run(model, CostAccumulator() >> trace())()
    np.testing.assert_allclose(total, sum(range(T)))
    np.testing.assert_allclose(running, np.cumsum(np.arange(T)))
    np.testing.assert_allclose(tr["step"].amount, np.arange(T))
    np.testing.assert_array_equal(tr["step"].indices[0], np.arange(T))


def test_works_under_jit():
    n_traces = 0

    def total_cost(accumulator, prices, key):
        nonlocal n_traces
        n_traces += 1
        _, (total, _) = run(shopping, accumulator >> seed(key))(prices)
        return total

    f = jax.jit(total_cost)
    key = jax.random.key(0)
    eager = total_cost(CostAccumulator(), PRICES, key)
    np.testing.assert_allclose(f(CostAccumulator(), PRICES, key), eager, rtol=1e-12)
    # New leaves (weight, prices, key): no new trace.
    f(CostAccumulator(weight=3.0 * jnp.ones(())), PRICES + 1.0, jax.random.key(1))
    assert n_traces == 2  # one eager call, one trace for jit


def test_without_its_handler_the_effect_is_an_error():
    with pytest.raises(UnhandledEffectError, match="Effect Cost at site 'bread'"):
        run(shopping, seed(rng_seed=0) >> trace())(PRICES)


# --- 3. An effect with a default: a tempered observation ----------------------------


class TemperedObserve(AbstractSite):
    """Observe ``value`` under ``fn`` with the log density multiplied by ``temperature``
    (a tempered, or power, likelihood). Subclassing ``AbstractSite`` makes it a
    log-density term, so ``Trace.log_prob_sum`` and other log-density handlers count it.

    Its default interpretation needs no handler: the model gets the observed value back.
    """

    type_name: ClassVar[str] = "tempered_observe"
    has_default: ClassVar[bool] = True
    is_observed: ClassVar[bool] = True

    name: str = eqx.field(static=True)
    fn: Any
    value: Array
    temperature: Array
    indices: tuple = ()  # the step numbers of enclosing effect-aware scans
    # The plates around the site (innermost first). Every log-density site declares it,
    # so that handlers that label a factor's dims by its plates can read it.
    cond_indep_stack: tuple = eqx.field(static=True, default=())
    stop: bool = eqx.field(static=True, default=False)

    def default(self) -> "TemperedObserve":
        return self  # the value is the observation; nothing to draw

    def log_prob(self) -> Array:
        return self.temperature * self.fn.log_prob(self.value)


def tempered_observe(name: str, fn: Any, obs: ArrayLike, temperature: float = 1.0) -> Array:
    msg = TemperedObserve(name, fn, jnp.asarray(obs), jnp.asarray(temperature))
    return perform(msg).value


class Anneal(Handler):
    """Overrides the temperature of every tempered observation (an annealing schedule
    would run the model under ``Anneal(t)`` for increasing ``t``)."""

    handles: ClassVar = (TemperedObserve,)
    temperature: Array

    def process(self, msg: TemperedObserve, state: Any) -> tuple[TemperedObserve, Any]:
        return msg.replace(temperature=self.temperature), state


def tempered_model(y):
    mu = sample("mu", D.Normal(0.0, 1.0))
    return tempered_observe("y", D.Normal(mu, 1.0), y, temperature=0.5)


def test_effect_with_a_default_and_a_handler_that_overrides_it():
    y = jnp.array(1.3)
    # No handler for it: the default applies, and the model gets the observation.
    value, (_, tr) = run(tempered_model, seed(rng_seed=0) >> trace())(y)
    mu = float(tr["mu"].value)
    assert float(value) == 1.3 and tr["y"]["type"] == "tempered_observe"
    expected = norm.logpdf(mu) + 0.5 * norm.logpdf(1.3, mu, 1.0)
    np.testing.assert_allclose(tr.log_prob_sum(), expected, rtol=1e-12)
    # A handler changes its meaning; standard handlers (scale only scales Sample and
    # Factor sites) leave it alone.
    pipeline = Anneal(jnp.asarray(0.1)) >> scale(scale=2.0) >> seed(rng_seed=0) >> trace()
    _, (_, _, _, tr) = run(tempered_model, pipeline)(y)
    expected = 2.0 * norm.logpdf(mu) + 0.1 * norm.logpdf(1.3, mu, 1.0)
    np.testing.assert_allclose(tr.log_prob_sum(), expected, rtol=1e-12)
