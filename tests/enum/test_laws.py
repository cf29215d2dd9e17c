"""The enumeration laws of ``proofs/_laws_enum.py`` on generated discrete models are
checked with hypothesis in ``tests/laws/test_standard_laws.py`` (with the examples this
file used to give them as well); here, that each is registered there, so that it runs."""

import pytest

from proofs import MODEL_LAWS, get_law
from proofs._laws_enum import ENUM_LAWS


@pytest.mark.parametrize("law", ENUM_LAWS, ids=lambda law: law.name)
def test_enum_law_is_registered(law):
    assert get_law(law.name) is law
    assert any(m is law for m in MODEL_LAWS)
