"""Parameter validation in its three modes (``validate_args`` None, True and False).

By default a concrete parameter is checked eagerly when the distribution is built and a
bad one raises ``ValueError``; a traced one is not checked and costs nothing. ``True``
adds a run-time check of traced values; ``False`` checks nothing.
"""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dists as D

# (build with the given validate_args, parameter named, constraint as the message names it,
#  how the bad value is printed)
BAD = {
    "Bernoulli": (
        lambda **kw: D.Bernoulli(probs=1.5, **kw),
        "probs",
        "UnitInterval",
        "probs=1.5",
    ),
    "Normal": (lambda **kw: D.Normal(0, -1, **kw), "scale", "Positive", "scale=-1.0"),
    "Gamma": (lambda **kw: D.Gamma(2.0, 0.0, **kw), "rate", "Positive", "rate=0.0"),
    "Categorical": (
        lambda **kw: D.Categorical(probs=np.array([0.2, 0.2]), **kw),
        "probs",
        "Simplex",
        "probs=[0.2, 0.2]",
    ),
    "MultivariateNormal": (
        lambda **kw: D.MultivariateNormal(
            np.zeros(2), covariance_matrix=np.array([[1.0, 2.0], [2.0, 1.0]]), **kw
        ),
        "covariance_matrix",
        "PositiveDefinite",
        "covariance_matrix=[[1., 2.], [2., 1.]]",
    ),
    "Dirichlet": (
        lambda **kw: D.Dirichlet(np.array([1.0, -0.5]), **kw),
        "concentration",
        "Independent(Positive, 1)",
        "concentration=[ 1. , -0.5]",
    ),
    "LKJCholesky": (
        lambda **kw: D.LKJCholesky(3, -1.0, **kw),
        "concentration",
        "Positive",
        "concentration=-1.0",
    ),
    # Dependent constraints, checked by the family once the other parameter is known.
    "Uniform": (lambda **kw: D.Uniform(2.0, 1.0, **kw), "high", "GreaterThan(low)", "high=1.0"),
    "DiscreteUniform": (
        lambda **kw: D.DiscreteUniform(3, 1, **kw),
        "high",
        "IntegerGreaterThanEq(low)",
        "high=1.0",
    ),
    "DiscreteUniform-low": (
        lambda **kw: D.DiscreteUniform(0.5, 2, **kw),
        "low",
        "Integer",
        "low=0.5",
    ),
    "TruncatedNormal": (
        lambda **kw: D.TruncatedNormal(0.0, 1.0, low=1.0, high=0.5, **kw),
        "high",
        "GreaterThan(low)",
        "high=0.5",
    ),
    # Wrappers with parameters of their own.
    "Delta": (
        lambda **kw: D.Delta(0.0, log_density=np.nan, **kw),
        "log_density",
        "Real",
        "log_density=nan",
    ),
    "Unit": (lambda **kw: D.Unit(np.inf, **kw), "log_factor", "Real", "log_factor=inf"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_default_mode_raises_naming_family_parameter_constraint_value_and_fix(name):
    make, param, constraint, found = BAD[name]
    family = name.split("-")[0]
    with pytest.raises(ValueError) as info:
        make()
    msg = str(info.value)
    assert msg.startswith(f"{family}: parameter `{param}` must satisfy constraint {constraint}.")
    assert f"Found {found}" in msg
    assert "Fix: " in msg and "validate_args=False" in msg


def test_infinite_truncation_bounds_are_no_bounds():
    x = jnp.array([-3.0, 0.5])
    d = D.TruncatedNormal(0.0, 1.0, low=-jnp.inf, high=1.0)
    np.testing.assert_allclose(d.log_prob(x), D.TruncatedNormal(0.0, 1.0, high=1.0).log_prob(x))
    e = D.TruncatedNormal(0.0, 1.0, high=jnp.inf)
    np.testing.assert_allclose(e.log_prob(x), D.Normal(0.0, 1.0).log_prob(x), rtol=1e-12)
    with pytest.raises(ValueError, match="`low`.*LessThan"):
        D.TruncatedNormal(0.0, 1.0, low=jnp.inf)
    with pytest.raises(ValueError, match="`high`.*GreaterThan"):
        D.TruncatedNormal(0.0, 1.0, high=jnp.nan)


def test_message_counts_the_bad_entries_of_an_array():
    found = "Found scale=[ 1., -1., 0.] (2 of 3 entries violate it; the first at index (1,))."
    with pytest.raises(ValueError, match=re.escape(found)):
        D.Normal(0.0, jnp.array([1.0, -1.0, 0.0]))


@pytest.mark.parametrize("name", list(BAD))
def test_validate_args_false_checks_nothing(name):
    make = BAD[name][0]
    d = make(validate_args=False)
    assert not d.validate_args


def test_default_mode_does_not_check_traced_values_under_jit():
    lp = jax.jit(lambda s: D.Normal(0.0, s).log_prob(0.0))(-1.0)
    assert bool(jnp.isnan(lp))
    high = jax.jit(lambda h: D.Uniform(2.0, h).high)(1.0)
    assert float(high) == 1.0
    cov = jnp.array([[1.0, 2.0], [2.0, 1.0]])
    jax.jit(lambda c: D.MultivariateNormal(jnp.zeros(2), covariance_matrix=c).loc)(cov)


def test_default_mode_costs_nothing_under_jit():
    # The program is the one built with validation off: no check, no callback.
    def program(validate_args):
        def f(loc, scale, low, high):
            return D.Normal(loc, scale, validate_args=validate_args).log_prob(0.0) + D.Uniform(
                low, high, validate_args=validate_args
            ).log_prob(0.5)

        return str(jax.make_jaxpr(f)(0.0, 1.0, 0.0, 1.0))

    assert program(None) == program(False)
    assert "callback" in program(True)


def test_default_mode_under_vmap_and_grad():
    # Mapped or differentiated parameters are tracers: not checked.
    lp = jax.vmap(lambda s: D.Normal(0.0, s).log_prob(0.0))(jnp.array([1.0, -1.0]))
    assert bool(jnp.isnan(lp[1])) and bool(jnp.isfinite(lp[0]))
    g = jax.grad(lambda s: D.Normal(0.0, s).log_prob(1.0))(-1.0)
    assert bool(jnp.isfinite(g))
    # A constant inside vmap is concrete, so it is checked.
    with pytest.raises(ValueError, match="`scale`"):
        jax.vmap(lambda x: D.Normal(0.0, -1.0).log_prob(x))(jnp.zeros(2))


# (a function of one traced parameter that builds with validate_args=True, a bad value,
#  the parameter named). Each returns something computed from the checked parameter.
TRACED = {
    "Normal": (lambda s: D.Normal(0.0, s, validate_args=True).log_prob(0.0), -1.0, "scale"),
    "Uniform": (lambda h: D.Uniform(2.0, h, validate_args=True).high, 1.0, "high"),
    "MultivariateNormal": (
        lambda c: D.MultivariateNormal(
            jnp.zeros(2), covariance_matrix=c, validate_args=True
        ).log_prob(jnp.zeros(2)),
        jnp.array([[1.0, 2.0], [2.0, 1.0]]),
        "covariance_matrix",
    ),
    "DiscreteUniform": (lambda h: D.DiscreteUniform(3, h, validate_args=True).high, 1.0, "high"),
}


@pytest.mark.parametrize("name", list(TRACED))
def test_validate_args_true_under_jit_errors_at_run_time(name):
    f, bad, param = TRACED[name]
    with pytest.raises(Exception, match=f"`{param}`.*checked at run time"):
        jax.block_until_ready(jax.jit(f)(bad))


def test_validate_args_property_is_about_log_prob_values():
    d = D.Exponential(1.0)
    assert not d.validate_args
    assert float(d.log_prob(-1.0)) == -np.inf  # not checked by default
    checked = D.Exponential(1.0, validate_args=True)
    assert checked.validate_args
    with pytest.raises(ValueError, match="outside the support"):
        checked.log_prob(-1.0)


def test_explicit_choice_is_recorded_and_survives_jit():
    # ``_validate_explicit`` lets a consumer tell an explicit validate_args=False from the
    # default; it is static, so it survives flatten/unflatten.
    for validate_args, explicit in [(None, False), (False, True), (True, True)]:
        d = D.Normal(0.0, 1.0, validate_args=validate_args)
        same = jax.jit(lambda d: d)(d)
        assert same._validate_explicit is explicit
        assert same.validate_args is (validate_args is True)
