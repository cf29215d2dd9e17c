"""Every docstring example in the five packages, run as a doctest in float32."""

import doctest
import importlib
import pkgutil

import pytest

PACKAGES = ("effects", "handlers", "dists", "inference", "proofs")


def _modules_with_examples():
    found = []
    for package in PACKAGES:
        root = importlib.import_module(package)
        names = [package] + [
            info.name for info in pkgutil.walk_packages(root.__path__, package + ".")
        ]
        for name in names:
            module = importlib.import_module(name)
            if any(t.examples for t in doctest.DocTestFinder().find(module)):
                found.append(name)
    return found


MODULES = _modules_with_examples()


def test_the_examples_were_found():
    # A broken finder would make the parametrised test below check nothing.
    assert len(MODULES) >= 30, MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    runner = doctest.DocTestRunner(optionflags=flags)
    for test in doctest.DocTestFinder().find(module):
        runner.run(test, out=_collect(failures := []))
        assert runner.failures == 0, "".join(failures)


def _collect(into):
    return into.append
