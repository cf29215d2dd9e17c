"""Per-seed warm-up diagnostics of the enumerated HMM (``hmm_enum.py``'s models), for the
K = 10, T = 1000 investigation in ``RESULTS_ENUM.md``.

    # one JSON line per seed: smallest ESS, leapfrog steps per draw, adapted step size,
    # inverse mass matrix (min / median / max of its diagonal), sorted posterior mean of
    # locs, potential energy, mean acceptance statistic in sampling, divergences
    python benchmarks/hmm_enum_seeds.py seeds Effax 0,1,2,3,4
    python benchmarks/hmm_enum_seeds.py seeds NumPyro 0,1,2,3,4

    # warm up one framework, then sample from its post-warm-up position, step size and
    # inverse mass matrix with adaptation off, under both frameworks' NUTS, several keys
    python benchmarks/hmm_enum_seeds.py cross Effax 0 --keys 10,11,12 --draws 1000

Needs NumPyro and funsor. One chain per run, float32, CPU. Everything reported is
independent of the machine's load (no timings).
"""

from __future__ import annotations

import argparse
import json

import hmm_enum as H  # benchmarks/hmm_enum.py, beside this script
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from handlers import config_enumerate
from inference import MCMC, NUTS, effective_sample_size


def _min_ess(samples) -> float:
    return min(
        float(np.min(np.asarray(effective_sample_size(np.asarray(samples[s])[None]))))
        for s in ("probs_x", "locs")
    )


def _leaves(tree) -> np.ndarray:
    """NumPyro keeps the inverse mass matrix as a dict keyed by tuples of site names."""
    return np.concatenate([np.asarray(v).ravel() for v in jax.tree.leaves(tree)])


def _numpyro_mcmc(model, warmup, draws, **nuts):
    import numpyro.infer as ni

    return ni.MCMC(ni.NUTS(model, **nuts), num_warmup=warmup, num_samples=draws, progress_bar=False)


def seeds(fw: str, seed_list: list[int], k: int, t: int, warmup: int, draws: int) -> None:
    ys = jnp.asarray(H.synthetic(k, t))
    np_model, _ = H.numpyro_model_and_potential(ys, k)
    for seed in seed_list:
        if fw == "Effax":
            m = MCMC(
                NUTS(config_enumerate(H.effax_model)),
                num_warmup=warmup,
                num_samples=draws,
                progress_bar=False,
            )
            m.warmup(jax.random.key(seed), ys, k)  # then sampling with the same key, as
            m.run(jax.random.key(seed), ys, k)  # the RESULTS_ENUM.md runs did
            adapt = m.last_state.adapt
            eps = float(np.asarray(adapt.step_size).ravel()[0])
            imm = np.asarray(adapt.inverse_mass_matrix).ravel()
        else:
            m = _numpyro_mcmc(np_model, warmup, draws)
            fields = ("num_steps", "potential_energy", "accept_prob", "diverging")
            m.warmup(jax.random.PRNGKey(seed), ys, k)
            m.run(jax.random.PRNGKey(seed), ys, k, extra_fields=fields)
            adapt = m.last_state.adapt_state
            eps = float(adapt.step_size)
            imm = _leaves(adapt.inverse_mass_matrix)
        ef, d = m.get_extra_fields(), m.get_samples()
        rec = {
            "fw": fw,
            "seed": seed,
            "min_ess": _min_ess(d),
            "steps_per_draw": float(np.mean(ef["num_steps"])),
            "step_size": eps,
            "imm_min_median_max": [float(imm.min()), float(np.median(imm)), float(imm.max())],
            "sorted_locs_mean": np.round(np.sort(np.asarray(d["locs"]).mean(0)), 2).tolist(),
            "potential_mean_sd": [
                float(np.mean(ef["potential_energy"])),
                float(np.std(ef["potential_energy"])),
            ],
            "accept_mean": float(np.mean(ef["accept_prob"])),
            "divergences": int(np.sum(ef["diverging"])),
        }
        print(json.dumps(rec), flush=True)


def cross(src: str, seed: int, keys: list[int], k: int, t: int, warmup: int, draws: int) -> None:
    ys = jnp.asarray(H.synthetic(k, t))
    np_model, _ = H.numpyro_model_and_potential(ys, k)
    _, unravel = ravel_pytree({"locs": jnp.zeros(k), "probs_x": jnp.zeros((k, k - 1))})
    if src == "Effax":
        m = MCMC(
            NUTS(config_enumerate(H.effax_model)),
            num_warmup=warmup,
            num_samples=1,
            progress_bar=False,
        )
        m.warmup(jax.random.key(seed), ys, k)
        st = m.post_warmup_state
        z = np.asarray(st.z.z).reshape(-1)
        eps = float(np.asarray(st.adapt.step_size).ravel()[0])
        imm = np.asarray(st.adapt.inverse_mass_matrix).reshape(-1)
    else:
        m = _numpyro_mcmc(np_model, warmup, 1)
        m.warmup(jax.random.PRNGKey(seed), ys, k)
        st = m.post_warmup_state
        z = np.asarray(ravel_pytree(st.z)[0])
        eps = float(st.adapt_state.step_size)
        imm = _leaves(st.adapt_state.inverse_mass_matrix)
    init = unravel(jnp.asarray(z))  # both frameworks ravel the sites in sorted order
    fixed = dict(step_size=eps, adapt_step_size=False, adapt_mass_matrix=False)
    for fw in ("Effax", "NumPyro"):
        for key in keys:
            if fw == "Effax":
                kernel = NUTS(config_enumerate(H.effax_model), inverse_mass_matrix=imm, **fixed)
                mm = MCMC(kernel, num_warmup=0, num_samples=draws, progress_bar=False)
                mm.run(jax.random.key(1000 + key), ys, k, init_params=init)
            else:
                mm = _numpyro_mcmc(
                    np_model, 0, draws, inverse_mass_matrix=jnp.asarray(imm), **fixed
                )
                mm.run(
                    jax.random.PRNGKey(1000 + key),
                    ys,
                    k,
                    init_params=init,
                    extra_fields=("num_steps", "accept_prob"),
                )
            ef, d = mm.get_extra_fields(), mm.get_samples()
            acc = np.asarray(ef["accept_prob"]).ravel()
            rec = {
                "source": src,
                "seed": seed,
                "kernel": fw,
                "key": key,
                "min_ess": _min_ess(d),
                "steps_per_draw": float(np.mean(ef["num_steps"])),
                "accept_per_100": [
                    round(float(acc[i : i + 100].mean()), 2) for i in range(0, draws, 100)
                ],
            }
            print(json.dumps(rec), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=["seeds", "cross"])
    p.add_argument("framework", choices=["Effax", "NumPyro"])
    p.add_argument("seeds", help="comma-separated seeds (cross: one seed)")
    p.add_argument("--keys", default="0,1,2,3", help="cross: the sampling keys")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--t", type=int, default=1000)
    p.add_argument("--warmup", type=int, default=1000)
    p.add_argument("--draws", type=int, default=1000)
    a = p.parse_args()
    seed_list = [int(s) for s in a.seeds.split(",")]
    if a.what == "seeds":
        seeds(a.framework, seed_list, a.k, a.t, a.warmup, a.draws)
    else:
        keys = [int(s) for s in a.keys.split(",")]
        cross(a.framework, seed_list[0], keys, a.k, a.t, a.warmup, a.draws)


if __name__ == "__main__":
    main()
