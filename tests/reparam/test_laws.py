"""The laws of ``reparam`` (``proofs/_laws_reparam.py``), checked with hypothesis on
generated models: the prior of the original sites (a two-sample KS test at a stated
false-alarm rate), the density by change of variables, commutation of reparameterisers on
disjoint sites, and commutation with ``condition``."""

import pytest
from hypothesis import settings

from proofs import get_law, run_law
from proofs._laws_reparam import REPARAM_LAWS


@pytest.mark.parametrize("law", REPARAM_LAWS, ids=lambda law: law.name)
def test_reparam_law(law):
    assert get_law(law.name) is law  # registered
    # Three examples each in the quick profile (tests/laws runs two more), fifty in the
    # thorough one.
    run_law(law, max_examples=max(3, round(settings.default.max_examples * law.cost / 2)))
