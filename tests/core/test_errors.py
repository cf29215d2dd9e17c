"""Errors visible while tracing name the site (or the argument) and say how to fix it."""

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import pytest

import dists as D
from effects import (
    Effect,
    UnhandledEffectError,
    param,
    perform,
    plate,
    run,
    sample,
    scan,
)
from handlers import condition, seed, substitute, trace


def test_sampling_without_a_prng_key_names_the_site():
    def model():
        return sample("x", D.Normal(0.0, 1.0))

    with pytest.raises(ValueError, match=r"Sample site 'x' needs a PRNG key.*seed\("):
        run(model, trace())()
    with pytest.raises(ValueError, match="Sample site 'x' needs a PRNG key"):
        model()  # no handler at all

    def subsampled():
        with plate("data", 10, subsample_size=3):
            pass

    with pytest.raises(ValueError, match="Plate 'data' subsamples 3 of 10.*seed"):
        run(subsampled, trace())()

    def random_init():
        return param("p", lambda key: jax.random.normal(key))

    with pytest.raises(ValueError, match="Param site 'p'.*PRNG key"):
        run(random_init, trace())()


def test_duplicate_site_names_under_trace():
    def model():
        sample("x", D.Normal(0.0, 1.0))
        sample("x", D.Normal(0.0, 1.0))

    with pytest.raises(ValueError, match=r"Site 'x' appears twice.*scope"):
        run(model, seed(rng_seed=0) >> trace())()


def test_observed_value_shape_must_broadcast():
    def model():
        with plate("data", 3):
            sample("y", D.Normal(0.0, 1.0), obs=jnp.ones(4))

    with pytest.raises(ValueError, match=r"observed value at site 'y' has shape \(4,\)"):
        run(model, trace())()

    def conditioned():
        return sample("z", D.Normal(jnp.zeros(2), 1.0).to_event(1))

    with pytest.raises(ValueError, match=r"value at site 'z' has shape \(3,\)"):
        run(conditioned, condition(data={"z": jnp.ones(3)}))()


def test_site_batch_shape_must_match_its_plate():
    def model():
        with plate("data", 3):
            sample("y", D.Normal(jnp.zeros(4), 1.0))

    with pytest.raises(ValueError, match=r"Site 'y' has batch_shape \(4,\).*plate 'data'"):
        run(model, seed(rng_seed=0))()


def test_plate_dim_clash():
    def model():
        with plate("outer", 3, dim=-1):
            with plate("inner", 4, dim=-1):
                pass

    with pytest.raises(ValueError, match="plate 'inner' asks for dim -1.*plate 'outer'"):
        run(model, trace())()


def two_sites():
    a = sample("a", D.Normal(0.0, 1.0))
    return sample("b", D.Normal(a, 1.0))


@pytest.mark.parametrize("handler", [condition, substitute])
def test_data_naming_an_unknown_site(handler):
    name = handler.__name__
    with pytest.warns(UserWarning, match=rf"{name}: data name site\(s\) \['typo'\]"):
        run(two_sites, handler(data={"a": 1.0, "typo": 2.0}) >> seed(rng_seed=0))()
    with pytest.raises(ValueError, match=r"\['typo'\].*sites seen: \['a', 'b'\]"):
        pipeline = handler(data={"typo": 2.0}, on_unknown="error") >> seed(rng_seed=0)
        run(two_sites, pipeline)()
    run(two_sites, handler(data={"typo": 2.0}, on_unknown="ignore") >> seed(rng_seed=0))()
    # NumPyro style reports it too.
    with pytest.warns(UserWarning, match="typo"):
        seed(handler(two_sites, {"typo": 2.0}), rng_seed=0)()


def test_a_non_callable_model_is_rejected():
    not_a_model = seed(two_sites, rng_seed=0)()  # the result of calling a model: a slip
    with pytest.raises(TypeError, match="(?i)callable"):
        run(not_a_model, trace())
    with pytest.raises(TypeError, match="(?i)callable"):
        trace(not_a_model)
    with pytest.raises(TypeError, match="(?i)callable"):
        seed(not_a_model, rng_seed=0)
    with pytest.raises(TypeError, match="(?i)callable"):
        condition(not_a_model, data={"a": 1.0})


class Ping(Effect):
    """A user effect with no default interpretation."""

    name: str = eqx.field(static=True)
    value: Any = None
    indices: tuple = ()
    stop: bool = eqx.field(static=True, default=False)


def pinging():
    return perform(Ping(name="p")).value


def test_unhandled_user_effect_names_the_effect_and_site():
    match = r"Effect Ping at site 'p' has no default interpretation.*`handles` includes Ping"
    with pytest.raises(UnhandledEffectError, match=match):
        pinging()
    # Generic observers such as trace, which pass every message on, do not count as
    # handling it.
    with pytest.raises(UnhandledEffectError, match=match + ".*") as info:
        run(pinging, seed(rng_seed=0) >> trace())()
    assert "Seed, TraceHandler" in str(info.value)

    def in_scan():
        return scan(lambda c, _: (c, pinging()), 0.0, None, length=2)

    with pytest.raises(UnhandledEffectError, match=match):
        run(in_scan, trace())()
