"""``check_handler_laws`` on a correct toy handler and on deliberately broken ones."""

import random
from pathlib import Path
from typing import ClassVar

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import strategies as st

import proofs
from effects import Handler, Sample
from proofs import (
    HANDLER_LAWS,
    LAWS,
    MODEL_LAWS,
    HandlerLawsFailed,
    LawViolation,
    ModelSpec,
    SiteSpec,
    check_handler_laws,
    get_law,
    model_specs,
    run_law,
)


class Tempering(Handler):
    """Scale the log density of observed sample sites (the likelihood) by ``beta``."""

    handles: ClassVar = (Sample,)
    beta: jnp.ndarray

    def process(self, msg, state):
        if not msg.is_observed:
            return msg, state
        s = self.beta if msg.scale is None else self.beta * msg.scale
        return msg.replace(scale=s), state


class NoisyTempering(Handler):
    """Broken: draws its temperature from Python's global RNG on every message."""

    handles: ClassVar = (Sample,)

    def process(self, msg, state):
        if not msg.is_observed:
            return msg, state
        return msg.replace(scale=jnp.asarray(0.5 + random.random())), state


_SCHEDULE = {"step": 0}


class GlobalAnnealing(Handler):
    """Broken: reads (and advances) a module-level annealing schedule. Under jit the value
    read at trace time is frozen into the compiled code."""

    handles: ClassVar = (Sample,)

    def process(self, msg, state):
        if not msg.is_observed:
            return msg, state
        _SCHEDULE["step"] += 1
        return msg.replace(scale=jnp.asarray(1.0 / _SCHEDULE["step"])), state


# Small models with observed sites (so that the handlers act) and no scan (fast).
_MODELS = model_specs(max_sites=2, scan=False, require=("observed",))
# Tinier still for the broken handlers.
_TINY = model_specs(max_sites=1, plates=False, scan=False, require=("observed",))
# One fixed model, so that shrinking to a minimal counterexample is quick.
_ONE = st.just(
    ModelSpec(
        (),
        (SiteSpec("x0", "sample", "Normal", (np.zeros(2), np.ones(2)), obs=np.zeros(2)),),
    )
)


def test_correct_handler_passes():
    report = check_handler_laws(
        st.sampled_from([0.5, 2.0]).map(lambda b: Tempering(jnp.asarray(b))),
        touches=lambda h, spec: spec.names(("sample",)),
        models=_MODELS,
        max_examples=3,
        name="Tempering",
    )
    assert report.ok
    assert set(report.passed) == {law.name for law in HANDLER_LAWS if law.needs != "idempotent"}
    assert report.skipped == ("handler_idempotence",)
    assert "Tempering" in str(report)


def test_correct_handler_accepts_every_form_of_make_handler():
    laws = ["handler_seed_determinism", "handler_composition_identity"]
    forms = [
        Tempering(jnp.asarray(0.5)),
        lambda: Tempering(jnp.asarray(0.5)),
        lambda draw: Tempering(jnp.asarray(draw(st.sampled_from([0.5, 2.0])))),
        lambda draw, spec: Tempering(jnp.asarray(float(len(spec.names())))),
    ]
    for make in forms:
        assert check_handler_laws(make, laws=laws, models=_MODELS, max_examples=2).ok


def test_hidden_python_randomness_fails_determinism():
    with pytest.raises(HandlerLawsFailed) as info:
        check_handler_laws(
            NoisyTempering,
            laws=["handler_seed_determinism", "handler_block_shields"],
            models=_ONE,
            max_examples=4,
        )
    report = info.value.report
    assert report.failed == ("handler_seed_determinism",)
    assert "handler_seed_determinism" in str(info.value)
    assert "Minimal counterexample" in str(info.value)


def test_global_state_fails_jit_transparency():
    report = check_handler_laws(
        GlobalAnnealing,
        laws=["handler_jit_transparency", "handler_seed_determinism"],
        models=_TINY,
        max_examples=4,
        raise_on_failure=False,
        shrink=False,  # each example compiles; the first counterexample will do
    )
    assert set(report.failed) == {"handler_jit_transparency", "handler_seed_determinism"}
    assert "handler_jit_transparency" in str(report)


def test_run_law_on_one_example_and_on_a_violation():
    spec = ModelSpec((), (SiteSpec("x0", "sample", "Normal", (np.zeros(2), np.ones(2))),))
    run_law(get_law("seed_determinism"), spec=spec)
    with pytest.raises(LawViolation, match="handler_seed_determinism"):
        run_law(
            get_law("handler_seed_determinism"),
            handler=NoisyTempering(),
            models=lambda: _TINY,
            max_examples=4,
            shrink=False,
        )


def test_registry_is_immutable_and_complete():
    assert isinstance(LAWS, tuple)
    assert LAWS == MODEL_LAWS + HANDLER_LAWS
    assert len({law.name for law in LAWS}) == len(LAWS) >= 20
    for law in LAWS:
        assert law.statement and law.argument
    with pytest.raises(KeyError):
        get_law("no_such_law")


def test_readme_lists_every_law():
    text = (Path(proofs.__file__).parent / "README.md").read_text()
    for law in LAWS:
        assert f"`{law.name}`" in text, law.name
        assert law.statement in text, law.name
        assert law.argument in text, law.name
