"""A kernel written outside the library runs through ``MCMC``: the kernel protocol.

MALA (the Metropolis-adjusted Langevin algorithm) is defined here from the public
protocol only (``inference.MCMCKernel``, ``inference.WindowAdaptation``), as a researcher
would write it, and driven by ``MCMC`` with several chains, thinning and the progress bar;
its draws come back through ``get_samples``, ``print_summary`` and ``to_arviz``, and match a
known Gaussian posterior within Monte Carlo error.
"""

from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dists as D
from effects import plate, sample
from inference import (
    MCMC,
    NUTS,
    HMCParams,
    MCMCKernel,
    NoAdaptation,
    WindowAdaptation,
    mcse_mean,
    to_arviz,
)

# --- the user's kernel ---------------------------------------------------------------------


class MALAState(eqx.Module):
    position: jax.Array
    potential_energy: jax.Array
    grad: jax.Array


class MALAInfo(eqx.Module):
    accept_prob: jax.Array
    is_accepted: jax.Array
    potential_energy: jax.Array
    proposal: jax.Array  # not a scalar: the driver does not keep it per draw


class MALA(MCMCKernel):
    """Preconditioned MALA: ``z' = z - h^2/2 M^-1 grad U(z) + h sqrt(M^-1) xi``."""

    step_size: float = eqx.field(static=True, kw_only=True, default=0.5)
    target_accept_prob: float = eqx.field(static=True, kw_only=True, default=0.574)

    def init(self, key, position, potential_fn):
        pe, grad = jax.value_and_grad(potential_fn)(position)
        return MALAState(position, pe, grad)

    def _log_q(self, to, frm, grad_frm, h, imm):
        mean = frm - 0.5 * h**2 * imm * grad_frm
        return -0.5 * jnp.sum((to - mean) ** 2 / (h**2 * imm))

    def step(self, key, state, potential_fn, params):
        h, imm = params.step_size, params.inverse_mass_matrix
        k1, k2 = jax.random.split(key)
        z, g = state.position, state.grad
        xi = jax.random.normal(k1, z.shape, z.dtype)
        prop = z - 0.5 * h**2 * imm * g + h * jnp.sqrt(imm) * xi
        pe_new, g_new = jax.value_and_grad(potential_fn)(prop)
        log_ratio = (
            state.potential_energy
            - pe_new
            + self._log_q(z, prop, g_new, h, imm)
            - self._log_q(prop, z, g, h, imm)
        )
        accept_prob = jnp.where(jnp.isnan(log_ratio), 0.0, jnp.minimum(1.0, jnp.exp(log_ratio)))
        accepted = jax.random.uniform(k2, (), z.dtype) < accept_prob
        new = jax.tree.map(
            lambda a, b: jnp.where(accepted, a, b),
            MALAState(prop, pe_new, g_new),
            state,
        )
        return new, MALAInfo(accept_prob, accepted, new.potential_energy, prop)

    def adaptation(self, position, num_warmup):
        # Stan's windows tune the step size and a diagonal mass matrix for MALA too.
        return WindowAdaptation(
            num_warmup, step_size=self.step_size, target_accept_prob=self.target_accept_prob
        )


# --- a model with a known posterior -----------------------------------------------------------

Y = jnp.array([0.3, -0.5, 1.2, 0.8, 0.1, 2.0, -0.3, 0.9])


def model(y):
    mu = sample("mu", D.Normal(0.0, 10.0))
    log_s = sample("log_s", D.Normal(0.0, 0.5))
    with plate("N", y.shape[0]):
        sample("y", D.Normal(mu, 1.0), obs=y)
    return log_s


# mu | y is normal (conjugate); log_s is untouched by the data: N(0, 0.5^2).
_PREC = Y.shape[0] + 1e-2
POST_MEAN = {"mu": float(Y.sum()) / _PREC, "log_s": 0.0}
POST_SD = {"mu": 1 / np.sqrt(_PREC), "log_s": 0.5}


@pytest.mark.parametrize("chain_method", ["sequential", "vectorized"])
def test_user_mala_runs_through_mcmc(chain_method, capsys):
    mcmc = MCMC(
        MALA(model),
        num_warmup=300,
        num_samples=1200,
        num_chains=4,
        thinning=2,
        chain_method=chain_method,
        progress_bar=True,
    )
    mcmc.run(jax.random.key(0), Y)
    err = capsys.readouterr().err
    assert "warmup" in err and "sample" in err  # the bar is fed from inside the loop

    samples = mcmc.get_samples(group_by_chain=True)
    assert samples["mu"].shape == (4, 600)  # thinned: every 2nd of 1200
    assert mcmc.get_samples()["mu"].shape == (2400,)
    extra = mcmc.get_extra_fields(group_by_chain=True)
    # The scalar statistics of MALAInfo are kept per draw, the proposal vector is not.
    assert set(extra) == {"accept_prob", "is_accepted", "potential_energy"}
    assert extra["is_accepted"].dtype == jnp.bool_
    # Window adaptation aimed the step size at MALA's optimal acceptance.
    assert 0.4 < float(extra["accept_prob"].mean()) < 0.75

    for site in ("mu", "log_s"):
        draws = np.asarray(samples[site])
        se = float(mcse_mean(draws))
        assert abs(draws.mean() - POST_MEAN[site]) < 4 * se, site
        assert abs(draws.std() / POST_SD[site] - 1) < 0.1, site

    mcmc.print_summary()
    out = capsys.readouterr().out
    assert "mu" in out and "log_s" in out and "r_hat" in out

    idata = to_arviz(mcmc)
    assert idata.posterior["mu"].shape == (4, 600)
    assert "acceptance_rate" in idata.sample_stats
    assert "lp" in idata.sample_stats
    assert "y" in idata.observed_data


def test_user_kernel_on_a_potential_and_pytree_positions():
    # The same kernel on a potential_fn, positions a dict: the driver passes flat vectors.
    def potential(p):
        return 0.5 * jnp.sum(((p["a"] - 1.0) / 2.0) ** 2) + 0.5 * (p["b"] + 3.0) ** 2

    init = {"a": jnp.zeros((8, 2)), "b": jnp.zeros((8,))}
    mcmc = MCMC(
        MALA(potential_fn=potential),
        num_warmup=300,
        num_samples=1000,
        num_chains=8,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.run(jax.random.key(1), init_params=init)
    s = mcmc.get_samples(group_by_chain=True)
    assert s["a"].shape == (8, 1000, 2) and s["b"].shape == (8, 1000)
    a = np.asarray(s["a"])
    assert np.all(np.abs(a.mean((0, 1)) - 1.0) < 4 * np.asarray(mcse_mean(a)))
    b = np.asarray(s["b"])
    assert abs(b.mean() + 3.0) < 4 * float(mcse_mean(b))


class _FixedWalk(MCMCKernel):
    """The smallest kernel: a position as its state, no statistics, no tuning."""

    scale: float = eqx.field(static=True, kw_only=True, default=0.5)
    info_fields: ClassVar = ()

    def init(self, key, position, potential_fn):
        return _Pos(position, potential_fn(position))

    def step(self, key, state, potential_fn, params):
        k1, k2 = jax.random.split(key)
        prop = state.position + self.scale * jax.random.normal(k1, state.position.shape)
        pe = potential_fn(prop)
        ok = jnp.log(jax.random.uniform(k2)) < state.potential_energy - pe
        return jax.tree.map(lambda a, b: jnp.where(ok, a, b), _Pos(prop, pe), state), None

    def adaptation(self, position, num_warmup):
        return NoAdaptation()


class _Pos(eqx.Module):
    position: jax.Array
    potential_energy: jax.Array


def test_minimal_kernel_with_no_info_and_no_adaptation():
    mcmc = MCMC(
        _FixedWalk(model),
        num_warmup=10,
        num_samples=50,
        num_chains=2,
        progress_bar=False,
    )
    mcmc.run(jax.random.key(2), Y)
    assert mcmc.get_samples()["mu"].shape == (100,)
    assert mcmc.get_extra_fields() == {}
    mcmc.print_summary()  # no divergences to report: the line is left out


def test_protocol_errors_name_the_fix():
    with pytest.raises(TypeError, match="MCMCKernel"):
        MCMC(object(), num_warmup=1, num_samples=1)  # type: ignore[arg-type]

    class Bad(_FixedWalk):
        info_fields: ClassVar = ("accept_prob",)

    mcmc = MCMC(Bad(model), num_warmup=1, num_samples=2, progress_bar=False)
    with pytest.raises(ValueError, match="info_fields names"):
        mcmc.run(jax.random.key(0), Y)


def test_builtin_kernels_follow_the_protocol_on_pytrees():
    # NUTS's public init/step take pytree positions and give them back.
    def potential(p):
        return 0.5 * jnp.sum(p["x"] ** 2) + 0.5 * p["y"] ** 2

    kernel = NUTS(potential_fn=potential)
    position = {"x": jnp.ones(2), "y": jnp.asarray(0.5)}
    adaptation = kernel.adaptation(position, 50)
    state = kernel.init(jax.random.key(0), position, potential)
    a = adaptation.init(jax.random.key(1), position, state, potential)
    step = jax.jit(lambda k, s, p: kernel.step(k, s, potential, p))
    for i in range(50):
        state, info = step(jax.random.key(i), state, adaptation.params(a))
        a = adaptation.step(jax.random.key(100 + i), a, i, state, info, potential)
    a = adaptation.final(a)
    assert isinstance(adaptation.params(a), HMCParams)
    assert jax.tree.structure(state.position) == jax.tree.structure(position)
    assert state.position["x"].shape == (2,)
    np.testing.assert_allclose(
        float(state.potential_energy), float(potential(state.position)), rtol=1e-6
    )
