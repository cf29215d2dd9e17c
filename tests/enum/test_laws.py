"""The enumeration laws of ``proofs/_laws_enum.py`` on generated discrete models (they
are registered with the model laws too, so tests/laws runs them as well)."""

import pytest
from hypothesis import settings

from proofs import run_law
from proofs._laws_enum import ENUM_LAWS


@pytest.mark.parametrize("law", ENUM_LAWS, ids=lambda law: law.name)
def test_enum_law(law):
    run_law(law, max_examples=max(3, settings.default.max_examples // 3))
