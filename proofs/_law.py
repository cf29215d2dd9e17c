"""What a law is, and how one is checked with hypothesis.

A :class:`Law` is about generated models: it draws a model spec, data for it and a seed,
and its ``check(spec, data, key)`` runs both sides of the law and asserts that what should
be equal is equal. A :class:`HandlerLaw` is generic over a handler: bound to a strategy
of handler instances (``law.bind(make_handler)``) it becomes a :class:`Law`.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Collection, Sequence
from typing import Any

import jax
from hypothesis import HealthCheck, Phase, given, settings, strategies as st

from effects import Handler

from ._spec import ModelSpec
from ._strategies import keeps_global_random, model_specs, seeds


def _no_data(*args: Any) -> st.SearchStrategy:
    return st.none()


def _default_models() -> st.SearchStrategy[ModelSpec]:
    return model_specs()


@dataclasses.dataclass(frozen=True)
class Law:
    """A law about generated models.

    Attributes:
        name: a unique snake_case name.
        statement: what the law says, precisely.
        argument: why it holds, in a few sentences.
        check: ``check(spec, data, key)``: runs both sides and raises ``AssertionError``
            when they differ.
        data: ``data(spec)``: a strategy for the law's data on that model.
        models: a zero-argument function giving the strategy of model specs.
        handlers: the standard handlers the law is about.
        cost: the share of the hypothesis profile's ``max_examples`` it runs in tests
            (laws that compile with ``jit`` or run scans cost more per example).
        subject: for a bound :class:`HandlerLaw`, what handler it was bound to.
    """

    name: str
    statement: str
    argument: str
    check: Callable[..., None]
    data: Callable[..., st.SearchStrategy] = _no_data
    models: Callable[[], st.SearchStrategy[ModelSpec]] = _default_models
    handlers: tuple[str, ...] = ()
    cost: float = 1.0
    subject: str = ""

    def examples(self) -> st.SearchStrategy[tuple[ModelSpec, Any, int]]:
        """Joint strategy of ``(spec, data, seed)``, so that hypothesis shrinks them together."""

        @st.composite
        @keeps_global_random
        def _ex(draw):
            spec = draw(self.models())
            data = draw(self.data(spec))
            return spec, data, draw(seeds())

        return _ex()

    @property
    def title(self) -> str:
        return self.name + (f" [{self.subject}]" if self.subject else "")


@dataclasses.dataclass(frozen=True)
class HandlerCase:
    """The data of a bound handler law: the handler, whether ``seed`` sits outside it,
    the sites it declares it touches (``None``: undeclared), and the law's own data."""

    handler: Any
    seed_outside: bool
    touched: frozenset | None
    extra: Any


HandlerStrategy = Callable[[ModelSpec], st.SearchStrategy]


def handler_strategy(make_handler: Any) -> HandlerStrategy:
    """Normalise ``make_handler`` to a function from a model spec to a strategy.

    Accepted: a handler instance; a hypothesis strategy; a zero-argument factory; a
    function ``f(draw)`` or ``f(draw, spec)`` (as in ``st.composite``); or a function
    ``f(spec) -> strategy`` marked by a parameter named ``spec``.
    """
    if isinstance(make_handler, Handler):
        return lambda spec: st.just(make_handler)
    if isinstance(make_handler, st.SearchStrategy):
        return lambda spec: make_handler
    if not callable(make_handler):
        raise TypeError(
            "make_handler must be a handler, a hypothesis strategy, a zero-argument factory, "
            f"or a function of (draw) or (draw, spec); got {type(make_handler).__name__}."
        )
    params = [
        p
        for p in inspect.signature(make_handler).parameters.values()
        if p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if not params:
        return lambda spec: st.builds(make_handler)
    if len(params) == 1 and params[0].name == "spec":
        return make_handler
    if len(params) == 1:
        return lambda spec: st.composite(lambda draw: make_handler(draw))()
    if len(params) == 2:
        return lambda spec: st.composite(lambda draw: make_handler(draw, spec))()
    raise TypeError(
        f"make_handler takes {len(params)} arguments; expected none, (draw) or (draw, spec)."
    )


@dataclasses.dataclass(frozen=True)
class HandlerLaw:
    """A law that any handler ``H`` should obey (jit/vmap transparency, composition, ...).

    ``check(spec, case, key)`` receives a :class:`HandlerCase`. ``data(spec, handler)``
    gives the strategy of the law's own data. ``needs`` is ``"touches"`` or
    ``"idempotent"`` when the law only applies to handlers that declare so.
    """

    name: str
    statement: str
    argument: str
    check: Callable[..., None]
    data: Callable[..., st.SearchStrategy] = _no_data
    needs: str | None = None
    cost: float = 1.0

    def bind(
        self,
        make_handler: Any,
        *,
        touches: Callable[[Any, ModelSpec], Collection[str]] | None = None,
        seed_positions: Sequence[str] = ("inside", "outside"),
        models: Callable[[], st.SearchStrategy[ModelSpec]] = _default_models,
        subject: str = "",
    ) -> Law:
        """This law for the handlers that ``make_handler`` gives (see
        :func:`handler_strategy`). ``seed_positions`` says where ``seed`` may sit relative
        to the handler: ``"inside"`` (nearer the model) and/or ``"outside"``."""
        strat = handler_strategy(make_handler)
        bad = set(seed_positions) - {"inside", "outside"}
        if bad or not seed_positions:
            raise ValueError(
                f"seed_positions must be from ('inside', 'outside'), got {seed_positions}."
            )

        @st.composite
        def _data(draw, spec):
            h = draw(strat(spec))
            outside = draw(st.sampled_from(sorted(seed_positions))) == "outside"
            touched = None if touches is None else frozenset(touches(h, spec))
            case = HandlerCase(h, outside, touched, None)
            extra = draw(self.data(spec, case))
            return dataclasses.replace(case, extra=extra)

        return Law(
            self.name,
            self.statement,
            self.argument,
            self.check,
            _data,
            models,
            (),
            self.cost,
            subject or "handler",
        )


class LawViolation(AssertionError):
    """A law failed. ``law`` is the law, ``example`` the minimal counterexample found
    (``(spec, data, seed)``), and the cause is chained."""

    def __init__(self, law: Law, example: Any, cause: BaseException, *, shrunk: bool = True):
        self.law = law
        self.example = example
        spec, data, seed_ = example if example is not None else (None, None, None)
        which = "Minimal counterexample found" if shrunk else "Counterexample (not shrunk)"
        super().__init__(
            f"Law '{law.title}' failed.\n"
            f"  Statement: {law.statement}\n"
            f"  {which}:\n"
            f"    spec = {spec!r}\n"
            f"    data = {data!r}\n"
            f"    key  = jax.random.key({seed_})\n"
            f"  What differed: {type(cause).__name__}: {cause}"
        )


def default_examples(law: Law) -> int:
    """The number of examples for ``law`` under the current hypothesis profile."""
    return max(2, int(round(settings.default.max_examples * law.cost)))


def run_law(
    law: Law | HandlerLaw,
    *,
    spec: ModelSpec | None = None,
    data: Any = None,
    key: Any = None,
    max_examples: int | None = None,
    handler: Any = None,
    shrink: bool = True,
    **bind_kwargs: Any,
) -> None:
    """Check ``law``.

    With ``spec`` given, run its checker once on ``(spec, data, key)`` (key defaults to
    ``jax.random.key(0)``). Otherwise search with hypothesis (``max_examples`` examples;
    default: the profile's ``max_examples`` times the law's ``cost``) and raise a
    :class:`LawViolation` naming the law and the minimal counterexample found
    (``shrink=False`` reports the first counterexample instead, which is quicker when
    each example compiles).

    A :class:`HandlerLaw` needs ``handler`` (anything :func:`handler_strategy` accepts);
    ``bind_kwargs`` go to :meth:`HandlerLaw.bind`.

    Example:
        >>> from proofs import LAWS, run_law
        >>> law = next(l for l in LAWS if l.name == "scale_composition")
        >>> run_law(law, max_examples=2)
    """
    if isinstance(law, HandlerLaw):
        if handler is None:
            raise TypeError(f"Law '{law.name}' is generic over a handler: pass handler=...")
        law = law.bind(handler, **bind_kwargs)
    elif handler is not None or bind_kwargs:
        raise TypeError(f"Law '{law.name}' is not generic over a handler; drop handler=.")
    if spec is not None:
        k = jax.random.key(0) if key is None else key
        try:
            law.check(spec, data, k)
        except AssertionError as e:
            raise LawViolation(law, (spec, data, k), e, shrunk=False) from e
        return

    n = max_examples if max_examples is not None else default_examples(law)
    seen: list[Any] = []

    @settings(
        settings.default,
        max_examples=n,
        deadline=None,
        database=None,
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
        phases=tuple(p for p in Phase if shrink or p is not Phase.shrink),
    )
    @given(law.examples())
    def _search(example):
        spec_, data_, seed_ = example
        try:
            law.check(spec_, data_, jax.random.key(seed_))
        except BaseException:
            # Hypothesis runs the minimal failing example last.
            seen.append(example)
            raise

    try:
        _search()
    except Exception as e:
        if not seen:
            raise
        raise LawViolation(law, seen[-1], e, shrunk=shrink) from e
