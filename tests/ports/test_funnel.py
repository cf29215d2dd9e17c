"""Neal's funnel, centred: what the draws must get right though NUTS cannot enter the neck,
and that its divergences are reported.

Given any ``y``, ``x`` is N(0, e^y) in each coordinate, so ``z = x / e^(y/2)`` is exactly
N(0, 1) and ``P(x_i > 0) = 1/2``, whichever part of the funnel a chain reaches. The
marginal of ``y`` (N(0, 3)) is not checked: centred NUTS misses the neck, and its draws of
``y`` depend on where the chain sticks, in NumPyro as here.
"""

from __future__ import annotations

import jax
import numpy as np

from inference import init_to_value

from . import _port


def test_funnel_conditional_of_x_is_exact():
    reference = {
        "z": _port.known(np.zeros(9), 1.0),
        "x_positive": _port.known(np.full(9, 0.5), 0.5),
    }
    _port.assert_matches(_port.effax_draws("funnel"), reference)


def test_funnel_matches_numpyro():
    # test_ports.py's check of this port, beside the oracle check of the same draws.
    _port.assert_matches_numpyro("funnel")


def test_funnel_neck_divergences_are_reported_not_raised():
    # Started in the neck (y = -8, so x's scale is e^-4) with a step size of 1 and no
    # adaptation, every trajectory's energy error passes the divergence threshold at once:
    # each transition must be reported as divergent, and the chain stays where it is.
    module = _port.load("funnel")
    kernel = module.NUTS(
        module.model,
        step_size=1.0,
        adapt_step_size=False,
        init_strategy=init_to_value(values={"y": -8.0, "x": np.zeros(9)}),
    )
    mcmc = module.MCMC(kernel, num_warmup=0, num_samples=50, progress_bar=False)
    mcmc.run(jax.random.key(0))
    diverging = np.asarray(mcmc.get_extra_fields()["diverging"])
    assert diverging.shape == (50,) and diverging.dtype == bool
    assert diverging.all()
    np.testing.assert_array_equal(np.asarray(mcmc.get_samples()["y"]), -8.0)
