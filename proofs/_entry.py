"""``check_handler_laws``: run every generic law on a researcher's new handler."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Sequence
from typing import Any

from hypothesis import strategies as st

from ._law import LawViolation, run_law
from ._registry import HANDLER_LAWS
from ._spec import ModelSpec
from ._strategies import model_specs


@dataclasses.dataclass(frozen=True)
class LawResult:
    """The outcome of one law: ``status`` is ``"passed"``, ``"failed"`` or ``"skipped"``."""

    name: str
    status: str
    detail: str = ""


@dataclasses.dataclass(frozen=True)
class Report:
    """The outcomes of :func:`check_handler_laws`, one per generic law."""

    subject: str
    results: tuple[LawResult, ...]

    def _with(self, status: str) -> tuple[str, ...]:
        return tuple(r.name for r in self.results if r.status == status)

    @property
    def passed(self) -> tuple[str, ...]:
        return self._with("passed")

    @property
    def failed(self) -> tuple[str, ...]:
        return self._with("failed")

    @property
    def skipped(self) -> tuple[str, ...]:
        return self._with("skipped")

    @property
    def ok(self) -> bool:
        return not self.failed

    def __str__(self) -> str:
        lines = [
            f"Handler laws for {self.subject}: {len(self.passed)} passed, "
            f"{len(self.failed)} failed, {len(self.skipped)} skipped."
        ]
        for r in self.results:
            note = f": {r.detail}" if r.status == "skipped" else ""
            lines.append(f"  [{r.status}] {r.name}{note}")
        for r in self.results:
            if r.status == "failed":
                lines.append("")
                lines.append(r.detail)
        return "\n".join(lines)


class HandlerLawsFailed(AssertionError):
    """Some generic law failed for the handler; ``report`` has the details."""

    def __init__(self, report: Report):
        self.report = report
        super().__init__(
            f"Handler laws failed for {report.subject}: {', '.join(report.failed)}.\n\n{report}"
        )


def check_handler_laws(
    make_handler: Any,
    *,
    laws: str | Sequence[str] = "applicable",
    max_examples: int | None = None,
    touches: Callable[[Any, ModelSpec], Collection[str]] | None = None,
    idempotent: bool = False,
    seed_positions: Sequence[str] = ("inside", "outside"),
    models: st.SearchStrategy[ModelSpec] | None = None,
    name: str | None = None,
    raise_on_failure: bool = True,
    shrink: bool = True,
) -> Report:
    """Check a new handler against every generic law, on generated models.

    Args:
        make_handler: how to make instances of the handler: a handler, a hypothesis
            strategy of handlers, a zero-argument factory, or a function ``f(draw)`` or
            ``f(draw, spec)`` that draws one (``spec`` is the generated
            :class:`~proofs.ModelSpec`, for handlers whose data name the model's sites).
        laws: ``"applicable"`` (every generic law whose declaration is given), ``"all"``
            (the same, but a missing declaration is an error), or a list of law names.
        max_examples: examples per law (default: the hypothesis profile's
            ``max_examples`` times the law's cost).
        touches: ``touches(handler, spec)`` gives the names of the sites the handler acts
            on; declaring it enables ``handler_disjoint_commutation``.
        idempotent: declare ``h >> h == h``; enables ``handler_idempotence``.
        seed_positions: where ``seed`` may sit relative to the handler: ``"inside"``
            (``seed(k) >> h``) and/or ``"outside"`` (``h >> seed(k)``, needed by handlers
            that turn sites into fresh latent ones, like ``lift``).
        models: the strategy of models (default: :func:`~proofs.model_specs`).
        name: what to call the handler in messages (default: its class name).
        raise_on_failure: raise when a law fails (default) or just return the report.
        shrink: search for a minimal counterexample (default); ``False`` reports the first
            one found, which is quicker.

    Returns:
        A :class:`Report`. Raises :class:`HandlerLawsFailed` (an ``AssertionError``)
        naming each failing law with its statement and the minimal counterexample found.

    Example:
        >>> from effects import Handler, Sample
        >>> class Tempering(Handler):  # scale the likelihood only
        ...     handles = (Sample,)  # a class attribute, as in the base class
        ...     beta: float
        ...     def process(self, msg, state):
        ...         if not msg.is_observed:
        ...             return msg, state
        ...         s = self.beta if msg.scale is None else self.beta * msg.scale
        ...         return msg.replace(scale=s), state
        >>> report = check_handler_laws(lambda: Tempering(0.5), max_examples=2)
        >>> report.ok
        True
    """
    from ._law import handler_strategy

    strat = handler_strategy(make_handler)
    subject = name or _describe(make_handler)
    if isinstance(laws, str):
        if laws not in ("applicable", "all"):
            raise ValueError(f"laws must be 'applicable', 'all' or a list of names, got {laws!r}.")
        chosen = HANDLER_LAWS
    else:
        known = {law.name: law for law in HANDLER_LAWS}
        unknown = [n for n in laws if n not in known]
        if unknown:
            raise ValueError(f"Unknown handler laws {unknown}; known: {sorted(known)}.")
        chosen = tuple(known[n] for n in laws)
    model_strategy = (lambda: models) if models is not None else (lambda: model_specs())
    results = []
    for law in chosen:
        missing = (law.needs == "touches" and touches is None) or (
            law.needs == "idempotent" and not idempotent
        )
        if missing:
            what = "touches=..." if law.needs == "touches" else "idempotent=True"
            if laws == "all" or not isinstance(laws, str):
                raise ValueError(f"Law '{law.name}' needs the declaration {what}.")
            results.append(LawResult(law.name, "skipped", f"declare {what} to check it"))
            continue
        bound = law.bind(
            strat,
            touches=touches,
            seed_positions=seed_positions,
            models=model_strategy,
            subject=subject,
        )
        try:
            run_law(bound, max_examples=max_examples, shrink=shrink)
        except LawViolation as e:
            results.append(LawResult(law.name, "failed", str(e)))
        else:
            results.append(LawResult(law.name, "passed"))
    report = Report(subject, tuple(results))
    if raise_on_failure and report.failed:
        raise HandlerLawsFailed(report)
    return report


def _describe(make_handler: Any) -> str:
    if isinstance(make_handler, st.SearchStrategy):
        return repr(make_handler)[:60]
    if isinstance(make_handler, type):
        return make_handler.__name__
    if hasattr(make_handler, "handler_name"):
        return str(make_handler.handler_name)
    return str(getattr(make_handler, "__qualname__", type(make_handler).__name__))
