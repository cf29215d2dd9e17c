"""Neal's funnel, reparameterised with ``handlers.reparam`` and ``LocScaleReparam(0)``
(NumPyro's spelling): against the exact posterior, and with no divergences.

With ``x`` non-centred, ``y`` is exactly N(0, 3) and ``x_decentered`` exactly N(0, 1) in
each coordinate, and ``x = exp(y / 2) * x_decentered`` holds draw by draw.
"""

from __future__ import annotations

import jax
import numpy as np

from . import _port


def test_funnel_reparam_reaches_the_exact_posterior():
    reference = {
        "y": _port.known(0.0, 3.0),
        "x_decentered": _port.known(np.zeros(9), 1.0),
        "x_positive": _port.known(np.full(9, 0.5), 0.5),
    }
    _port.assert_matches(_port.effax_draws("funnel_reparam"), reference)


def test_funnel_reparam_matches_numpyro():
    # test_ports.py's check of this port, beside the oracle check of the same draws.
    _port.assert_matches_numpyro("funnel_reparam")


def test_funnel_reparam_has_no_divergences_and_keeps_x_as_a_deterministic_site():
    module = _port.load("funnel_reparam")
    mcmc = module.run_inference(module.reparam_model, jax.random.key(1), 300, 300, 1)
    samples = mcmc.get_samples()
    assert set(samples) == {"y", "x", "x_decentered"}
    np.testing.assert_allclose(
        samples["x"], np.exp(samples["y"][:, None] / 2) * samples["x_decentered"], rtol=1e-10
    )
    assert not np.asarray(mcmc.get_extra_fields()["diverging"]).any()
