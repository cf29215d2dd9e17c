"""The laws of ``reparam`` (``proofs/_laws_reparam.py``): the prior of the original sites
(a two-sample KS test at a stated false-alarm rate), the density by change of variables,
commutation of reparameterisers on disjoint sites, and commutation with ``condition``.

They are checked with hypothesis on generated models in ``tests/laws/test_standard_laws.py``
(with the examples this file used to give them as well); here, that each is registered
there, so that it runs."""

import pytest

from proofs import MODEL_LAWS, get_law
from proofs._laws_reparam import REPARAM_LAWS


@pytest.mark.parametrize("law", REPARAM_LAWS, ids=lambda law: law.name)
def test_reparam_law_is_registered(law):
    assert get_law(law.name) is law
    assert any(m is law for m in MODEL_LAWS)
