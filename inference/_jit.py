"""Compilation settings for programs that run once per call."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, cast

import equinox as eqx
import jax

# LLVM's optimisation passes are most of XLA:CPU's compile time. A program that runs once
# per call (finding initial points, building chain states) evaluates the model a handful of
# times, so there the compile time is the cost that counts: on the HMM benchmark, level 0
# halves it (3.0 s to 1.4 s). Other backends keep their defaults.
_ONCE_OPTIONS = {"xla_backend_optimization_level": 0}


def run_once_jit(fn: Callable) -> Callable:
    """``eqx.filter_jit(fn)``, compiled without LLVM optimisation on CPU.

    For programs whose run time is a few model evaluations; not for sampling loops. The
    choice follows ``jax.default_backend()`` at call time, and each choice keeps its own
    compilation cache.
    """
    # filter_jit forwards extra keywords to jax.jit, but its typed overloads omit them.
    on_cpu = eqx.filter_jit(fn, compiler_options=_ONCE_OPTIONS)  # type: ignore[call-overload]
    elsewhere = eqx.filter_jit(fn)

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        if jax.default_backend() != "cpu":
            return elsewhere(*args, **kwargs)
        try:
            return on_cpu(*args, **kwargs)
        except ValueError as e:
            # Inside an outer jit (MCMC run under jax.jit) JAX takes compiler options from
            # the top-level program only.
            if "compiler_options" not in str(e):
                raise
            return elsewhere(*args, **kwargs)

    def cache_size() -> int:
        """Programs compiled so far (for tests that count re-compilation)."""
        # `_cached` is private to equinox's jit wrapper, which its public types do not show.
        return sum(cast(Any, f)._cached._cache_size() for f in (on_cpu, elsewhere))

    call.cache_size = cache_size  # type: ignore[attr-defined]
    return call
