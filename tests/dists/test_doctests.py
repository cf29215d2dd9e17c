"""The docstring examples of every ``dists`` module run as written (in float64 here; they
are written to hold in float32 too)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import dists

MODULES = sorted(m.name for m in pkgutil.iter_modules(dists.__path__))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"dists.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, report=True)
    assert result.failed == 0, f"{result.failed} docstring example(s) of dists.{name} failed"
