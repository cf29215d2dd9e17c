"""Every law, checked with hypothesis on generated models.

``MODEL_LAWS`` are about the standard handlers; each generic law of ``HANDLER_LAWS`` is
checked on every standard handler it applies to (the idempotence and commutation laws on
those that declare idempotence or the sites they touch). ``run_law`` runs the hypothesis
search (``@given`` with ``@settings(deadline=None)``) with the profile loaded in
``tests/conftest.py``: ``quick`` by default, ``thorough`` with
``EFFAX_HYPOTHESIS_PROFILE=thorough``.
"""

import pytest
from hypothesis import settings

from proofs import HANDLER_LAWS, MODEL_LAWS, STANDARD_HANDLERS, run_law
from proofs._laws_enum import ENUM_LAWS
from proofs._laws_reparam import REPARAM_LAWS


def _examples(law, share):
    # The quick profile (12 examples) gives each model law about five examples and each
    # (generic law, handler) pair two; the thorough profile (200) scales them up.
    return max(2, round(settings.default.max_examples * law.cost * share))


_REPARAM = {law.name for law in REPARAM_LAWS}
_ENUM = {law.name for law in ENUM_LAWS}


def _model_law_examples(law):
    # This is the one place the reparam and enum laws run (tests/reparam and tests/enum
    # only check that they are registered), so they get the examples those files gave
    # them as well: three (fifty thorough) more for a reparam law, four (sixty-six) more
    # for an enum law.
    n = _examples(law, 0.4)
    if law.name in _REPARAM:
        n += max(3, round(settings.default.max_examples * law.cost / 2))
    if law.name in _ENUM:
        n += max(3, settings.default.max_examples // 3)
    return n


@pytest.mark.parametrize("law", MODEL_LAWS, ids=lambda law: law.name)
def test_model_law(law):
    run_law(law, max_examples=_model_law_examples(law))


def _applies(law, handler):
    if law.needs == "touches":
        return handler.touches is not None
    if law.needs == "idempotent":
        return handler.idempotent
    return True


_CASES = [
    pytest.param(law, h, id=f"{law.name}-{h.name}")
    for law in HANDLER_LAWS
    for h in STANDARD_HANDLERS
    if _applies(law, h)
]


@pytest.mark.parametrize(("law", "handler"), _CASES)
def test_generic_law_on_standard_handler(law, handler):
    run_law(
        law,
        handler=handler.strategy,
        touches=handler.touches,
        seed_positions=handler.seed_positions,
        subject=handler.name,
        max_examples=_examples(law, 1 / 12),
    )
