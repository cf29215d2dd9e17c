"""The float32 slice: tests run as users run them, with JAX's default 32-bit types.

The rest of the suite turns float64 on (``tests/conftest.py``) because its exact-math tests
compare with SciPy. Users mostly do not, so every test collected under this folder runs
inside ``jax.enable_x64(False)``. Strict dtype promotion and rank-promotion errors stay on,
as everywhere in the suite.
"""

import jax
import pytest


@pytest.fixture(autouse=True)
def _float32():
    with jax.enable_x64(False):
        assert jax.numpy.zeros(()).dtype == jax.numpy.float32
        yield
