"""The centred eight schools, reparameterised with ``LocScaleReparam``, against Stan's
reference posterior in ``shared/posteriordb`` (the checks of
``tests/posteriordb/test_reference.py``: every mean within 4 combined MCSE, every sd
within 10%, R-hat below 1.01) and with no divergences, where the centred model has many.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

import handlers as H
from inference import MCMC, NUTS
from inference.reparam import LocScaleReparam
from tests.posteriordb.models import POSTERIORS, posteriordb_dir
from tests.posteriordb.test_reference import SEED, compare_with_reference

pytestmark = pytest.mark.skipif(
    posteriordb_dir() is None, reason="shared/posteriordb not found (set $EFFAX_POSTERIORDB)"
)


@pytest.mark.slow
def test_reparameterised_centred_eight_schools_matches_the_reference():
    p = POSTERIORS["eight_schools-eight_schools_centered"]
    model = H.reparam(p.model, config={"theta": LocScaleReparam(centered=0.0)})
    args, kwargs = p.args()
    # As for the non-centred reference test: tau's heavy right tail needs many draws for
    # its sd, and a high target acceptance keeps the step small in the neck.
    mcmc = MCMC(
        NUTS(model, target_accept_prob=0.95),
        num_warmup=1000,
        num_samples=4000,
        num_chains=4,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(jax.random.key(SEED), *args, **kwargs)
    samples = mcmc.get_samples(group_by_chain=True)
    assert {"theta", "theta_decentered", "mu", "tau"} == set(samples)
    lines, failures = compare_with_reference(p, samples)
    assert not failures, "\n".join(lines)
    divergences = int(np.asarray(mcmc.get_extra_fields()["diverging"]).sum())
    assert divergences == 0, f"{divergences} divergent transitions"
