"""The GP port against its posterior computed by quadrature.

The model has three hyperparameters, so its posterior can be integrated on a grid
without a sampler: in u = log(var, noise, length) the log-normal priors become
N(u | 0, 10) (the Jacobian included), and the likelihood is the Gaussian marginal
likelihood, one Cholesky factor per grid point (NumPy). The grid gives the posterior
means and sds of the three log hyperparameters and of the example's predictive mean
and predictive draw at the test inputs (the draw's sd from the law of total variance).
The test checks that the grid holds all the mass and that a coarser grid (a third as
many points) changes nothing that matters, then compares NumPyro's reference and Effax's
draws with it. (A grid of 96 x 64 x 64 points, 2.7 times as many, moved no moment by more
than 4e-6 posterior sds.)
"""

from __future__ import annotations

import functools

import numpy as np

from . import _port

# Wide enough to hold all but a negligible part of the posterior (checked below).
RANGES = {"var": (-4.0, 7.0), "noise": (-6.5, -0.5), "length": (-3.0, 1.5)}


def _kernel(X, Z, var, length, noise, include_noise):
    # the port's squared-exponential kernel, batched over grid points (leading axis)
    d2 = ((X[:, None] - Z[None, :])[None] / length[:, None, None]) ** 2
    k = var[:, None, None] * np.exp(-0.5 * d2)
    if include_noise:
        k = k + (noise + 1.0e-6)[:, None, None] * np.eye(X.shape[0])
    return k


@functools.cache
def oracle(points: tuple[int, int, int] = (64, 48, 48), chunk: int = 8192) -> dict:
    module = _port.load("gp")
    X, Y, _ = module.get_data(N=25, N_test=5)
    X, Y = np.asarray(X, np.float64), np.asarray(Y, np.float64)
    X_test = np.linspace(-1.3, 1.3, 5)
    axes = [np.linspace(*RANGES[k], n) for k, n in zip(("var", "noise", "length"), points)]
    u = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    log_post, mean, pvar = [], [], []
    for start in range(0, len(u), chunk):
        var, noise, length = np.exp(u[start : start + chunk]).T
        L = np.linalg.cholesky(_kernel(X, X, var, length, noise, True))
        alpha = np.linalg.solve(L, np.broadcast_to(Y, (len(var), len(Y)))[..., None])[..., 0]
        log_lik = -0.5 * np.sum(alpha**2, -1) - np.sum(np.log(np.diagonal(L, 0, 1, 2)), -1)
        log_post.append(log_lik - 0.5 * np.sum(u[start : start + chunk] ** 2, -1) / 100.0)
        k_pX = _kernel(X_test, X, var, length, noise, False)
        v = np.linalg.solve(L, np.swapaxes(k_pX, 1, 2))  # L^-1 k_Xp
        mean.append(np.einsum("bnp,bn->bp", v, alpha))
        k_pp = np.diagonal(_kernel(X_test, X_test, var, length, noise, True), 0, 1, 2)
        pvar.append(np.clip(k_pp - np.sum(v**2, 1), 0.0, None))
    log_post, mean, pvar = (np.concatenate(a) for a in (log_post, mean, pvar))
    w = np.exp(log_post - log_post.max())
    w /= w.sum()
    grid_w = w.reshape(points)
    edge = max(float(np.take(grid_w, i, axis=a).sum()) for a in range(3) for i in (0, -1))

    def moments(x, extra_var=None):
        m = w @ x
        v = w @ ((x - m) ** 2) + (0.0 if extra_var is None else w @ extra_var)
        return {"mean": m, "sd": np.sqrt(v)}

    out = {
        "log_kernel_var": moments(u[:, 0]),
        "log_kernel_noise": moments(u[:, 1]),
        "log_kernel_length": moments(u[:, 2]),
        "means": moments(mean),
        "predictions": moments(mean, pvar),
    }
    for entry in out.values():
        entry["mcse"] = np.zeros_like(entry["mean"])
        entry["mcse_sd"] = np.zeros_like(entry["mean"])
    return {"edge_mass": edge, "summary": out}


def test_quadrature_is_sound():
    fine = oracle()
    assert fine["edge_mass"] < 1e-6, fine["edge_mass"]
    coarse = oracle((48, 32, 32))
    for name, entry in fine["summary"].items():
        other = coarse["summary"][name]
        for stat in ("mean", "sd"):
            # far below the Monte Carlo errors of the draws compared with it
            assert np.all(np.abs(entry[stat] - other[stat]) < 2e-3 * entry["sd"]), name


def test_numpyro_reference_matches_the_quadrature():
    ref, o = _port.reference("gp"), oracle()["summary"]
    z = _port.family_z(sum(2 * np.size(e["mean"]) for e in o.values()))
    for name, entry in o.items():
        for stat, err in (("mean", "mcse"), ("sd", "mcse_sd")):
            bound = z * np.asarray(ref[name][err])
            assert np.all(np.abs(np.asarray(ref[name][stat]) - entry[stat]) <= bound), (
                name,
                stat,
                ref[name][stat],
                entry[stat],
            )


def test_gp_on_effax_matches_the_quadrature():
    # The port's draws at its TEST_SIZES (cached), which the next test compares with
    # NumPyro's.
    _port.assert_matches(_port.effax_draws("gp"), oracle()["summary"])


def test_gp_matches_numpyro():
    # test_ports.py's check of this port, beside the oracle check of the same draws.
    _port.assert_matches_numpyro("gp")
