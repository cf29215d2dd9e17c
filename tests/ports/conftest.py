"""The ports are users' code: they run under JAX's default promotion rules (implicit rank
and dtype promotion allowed), not the suite's strict ones."""

import jax
import pytest


@pytest.fixture(autouse=True)
def _users_promotion_rules():
    with jax.numpy_dtype_promotion("standard"), jax.numpy_rank_promotion("allow"):
        yield
