"""Export of posterior draws and sampler statistics to an ArviZ ``InferenceData``.

ArviZ is an optional dependency (``pip install arviz``); it is imported only when one of
these functions is called.
"""

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from jaxtyping import ArrayLike

__all__ = ["from_samples", "to_arviz"]

# Names of the sampler's extra fields -> ArviZ's sample_stats names. "lp" is the log
# density, the negated potential energy.
_STAT_NAMES = {
    "diverging": "diverging",
    "accept_prob": "acceptance_rate",
    "num_steps": "n_steps",
    "energy": "energy",
    "potential_energy": "lp",
    "tree_depth": "tree_depth",
}


def _import_arviz() -> Any:
    try:
        import arviz
    except ImportError as e:
        raise ImportError(
            "Exporting to ArviZ needs the optional dependency ArviZ. Install it with "
            "`pip install arviz` (or `pip install effax[arviz]`)."
        ) from e
    return arviz


def _numpy_dict(group: Mapping[str, ArrayLike] | None) -> dict[str, np.ndarray] | None:
    if group is None:
        return None
    return {name: np.asarray(value) for name, value in group.items()}


def _check_chain_draw(group: str, values: dict[str, np.ndarray] | None) -> None:
    for name, value in (values or {}).items():
        if value.ndim < 2:
            raise ValueError(
                f"from_samples expects {group}[{name!r}] shaped (chains, draws, ...); got "
                f"shape {value.shape}. Add the chain axis with `x[None]` for one chain."
            )


def from_samples(
    posterior: Mapping[str, ArrayLike],
    sample_stats: Mapping[str, ArrayLike] | None = None,
    observed_data: Mapping[str, ArrayLike] | None = None,
    log_likelihood: Mapping[str, ArrayLike] | None = None,
    prior: Mapping[str, ArrayLike] | None = None,
    prior_predictive: Mapping[str, ArrayLike] | None = None,
    posterior_predictive: Mapping[str, ArrayLike] | None = None,
    coords: Mapping[str, Sequence[Any]] | None = None,
    dims: Mapping[str, Sequence[str]] | None = None,
) -> Any:
    """Build an ``arviz.InferenceData`` from dictionaries of draws.

    Arguments:
        posterior, sample_stats, log_likelihood, prior, prior_predictive,
        posterior_predictive: name -> array shaped ``(chains, draws, *shape)``. The
            ``sample_stats`` names are ArviZ's (``diverging``, ``acceptance_rate``,
            ``n_steps``, ``energy``, ``lp``, ``tree_depth``); ``diverging`` is stored as bool.
        observed_data: name -> observed array, with no chain or draw axis.
        coords: dimension name -> coordinate values.
        dims: variable name -> names of its dimensions after ``chain`` and ``draw``.
            Unnamed dimensions are called ``{name}_dim_{i}``.

    Returns:
        An ``arviz.InferenceData`` holding one group for each argument given.

    Example:
        >>> import numpy as np
        >>> idata = from_samples(
        ...     {"theta": np.zeros((2, 50, 3))},
        ...     sample_stats={"diverging": np.zeros((2, 50))},
        ...     dims={"theta": ["school"]},
        ... )
        >>> dict(idata.posterior["theta"].sizes)
        {'chain': 2, 'draw': 50, 'school': 3}
        >>> idata.sample_stats["diverging"].dtype
        dtype('bool')
    """
    az = _import_arviz()
    groups = {
        "posterior": _numpy_dict(posterior),
        "sample_stats": _numpy_dict(sample_stats),
        "log_likelihood": _numpy_dict(log_likelihood),
        "prior": _numpy_dict(prior),
        "prior_predictive": _numpy_dict(prior_predictive),
        "posterior_predictive": _numpy_dict(posterior_predictive),
    }
    for group, values in groups.items():
        _check_chain_draw(group, values)
    stats = groups["sample_stats"]
    if stats is not None and "diverging" in stats:
        stats["diverging"] = stats["diverging"].astype(bool)
    observed = _numpy_dict(observed_data) or None
    # ArviZ drops an empty group; passing None keeps it out explicitly.
    kwargs = {group: values or None for group, values in groups.items()}
    return az.from_dict(
        observed_data=observed,
        coords=None if coords is None else dict(coords),
        dims=_all_dims(groups, observed, dims),
        **kwargs,
    )


def _all_dims(
    groups: Mapping[str, dict[str, np.ndarray] | None],
    observed: dict[str, np.ndarray] | None,
    dims: Mapping[str, Sequence[str]] | None,
) -> dict[str, list[str]]:
    """Dimension names for every variable: the given ones, else ``{name}_dim_{i}``.

    ArviZ would name unnamed dimensions the same way, but a variable whose own name is
    such a dimension name (a site called ``theta_dim_0`` beside ``theta``) would then clash
    with the coordinate and be dropped. So the names are chosen here, with an underscore
    appended until they clash with no variable.
    """
    out = {k: list(v) for k, v in (dims or {}).items()}
    shapes: dict[str, tuple[int, ...]] = {}
    for group, values in groups.items():
        lead = 0 if group == "observed_data" else 2
        for name, value in (values or {}).items():
            shapes.setdefault(name, value.shape[lead:])
    for name, value in (observed or {}).items():
        shapes.setdefault(name, value.shape)
    taken = set(shapes)
    for name, shape in shapes.items():
        if name in out:
            continue
        out[name] = [_free_dim(f"{name}_dim_{i}", taken) for i in range(len(shape))]
    return out


def _plate_dims(
    spec: Any, posterior: Mapping[str, np.ndarray], observed: Mapping[str, Any] | None
) -> dict[str, list[str]]:
    """Dimension names from the model's plates, as ``arviz.from_numpyro`` infers them: a
    site's batch dim ``p.dim`` under plate ``p`` is named ``p.name``; other dims get
    ``{site}_dim_{i}``. A dim whose length is not the plate's is left unnamed.
    (Plates are sites, so no plate shares a variable's name.)"""
    taken = set(posterior) | set(observed or ()) | set(spec.observed)
    out: dict[str, list[str]] = {}
    for site in spec.sites:
        if site.role not in ("latent", "observed", "deterministic") or not site.plates:
            continue
        names: list[str | None] = [None] * len(site.shape)
        for plate in site.plates:
            axis = site.batch_ndim + plate.dim
            if 0 <= axis < len(names) and site.shape[axis] == plate.subsample_size:
                names[axis] = plate.name
        if any(n is not None for n in names):
            out[site.name] = [
                n if n is not None else _free_dim(f"{site.name}_dim_{i}", taken)
                for i, n in enumerate(names)
            ]
    return out


def _free_dim(dim: str, taken: set[str]) -> str:
    while dim in taken:
        dim += "_"
    return dim


def _with_chain_draw(name: str, value: ArrayLike, chains: int, draws: int) -> np.ndarray:
    """Give predictive draws a ``(chains, draws)`` leading shape.

    Draws already shaped ``(chains, draws, ...)`` are kept; draws shaped
    ``(chains * draws, ...)``, as from predictive sampling on flattened posterior draws, are
    reshaped; anything else is an error.
    """
    a = np.asarray(value)
    if a.shape[:2] == (chains, draws):
        return a
    if a.ndim >= 1 and a.shape[0] == chains * draws:
        return a.reshape((chains, draws) + a.shape[1:])
    raise ValueError(
        f"to_arviz: posterior_predictive[{name!r}] has shape {a.shape}, but the posterior has "
        f"{chains} chain(s) of {draws} draws, so it must be shaped ({chains}, {draws}, ...) or "
        f"({chains * draws}, ...). Fix: compute it from the same run's samples, e.g. "
        "Predictive(model, mcmc.get_samples())."
    )


def to_arviz(
    mcmc: Any,
    *,
    prior: Mapping[str, ArrayLike] | None = None,
    posterior_predictive: Mapping[str, ArrayLike] | None = None,
    log_likelihood: bool | Mapping[str, ArrayLike] = True,
    coords: Mapping[str, Sequence[Any]] | None = None,
    dims: Mapping[str, Sequence[str]] | None = None,
) -> Any:
    """Build an ``arviz.InferenceData`` from a finished MCMC run.

    ``mcmc`` is used through these attributes only, so any object that has them works:

    * ``get_samples(group_by_chain=True)`` -> name -> ``(chains, draws, ...)`` (required);
    * ``get_extra_fields(group_by_chain=True)`` -> sampler fields, of which ``diverging``,
      ``accept_prob``, ``num_steps``, ``energy``, ``potential_energy`` and ``tree_depth``
      become the ``sample_stats`` ``diverging``, ``acceptance_rate``, ``n_steps``,
      ``energy``, ``lp`` (= -potential energy) and ``tree_depth`` (optional);
    * ``observed_data()`` -> name -> observed array (optional);
    * ``log_likelihood()`` -> name -> ``(chains, draws, ...)`` pointwise log likelihood
      (optional);
    * ``model_spec()`` -> the model's :class:`~inference.ModelSpec` (optional): its
      observed sites are the ones whose ``prior`` draws go to ``prior_predictive``
      (without it, the names in ``observed_data()`` decide).

    Arguments:
        prior: prior predictive draws, name -> ``(num_samples, ...)``. Observed sites go
            to the ``prior_predictive`` group, the others to ``prior``.
        posterior_predictive: name -> ``(chains, draws, ...)`` or ``(chains * draws, ...)``.
        log_likelihood: ``True`` to call ``mcmc.log_likelihood()`` where it exists,
            ``False`` to leave the group out, or the pointwise log likelihood itself.
        coords, dims: as in :func:`from_samples`. Where the run has a model spec, the
            model's plates name the dims they index (``theta`` under ``plate("J", 8)``
            has dims ``("chain", "draw", "J")``), as ``arviz.from_numpyro`` does; the
            ``dims`` given here take precedence.

    Example:
        >>> import numpy as np
        >>> class Run:
        ...     def get_samples(self, group_by_chain=False):
        ...         return {"mu": np.zeros((2, 50))}
        ...     def get_extra_fields(self, group_by_chain=False):
        ...         return {
        ...             "diverging": np.zeros((2, 50), bool),
        ...             "potential_energy": np.ones((2, 50)),
        ...         }
        >>> idata = to_arviz(Run())
        >>> float(idata.sample_stats["lp"].mean())
        -1.0
    """
    posterior = {k: np.asarray(v) for k, v in mcmc.get_samples(group_by_chain=True).items()}
    if not posterior:
        raise ValueError("to_arviz found no posterior draws: mcmc.get_samples() is empty.")
    chains, draws = next(iter(posterior.values())).shape[:2]

    stats = None
    if callable(getattr(mcmc, "get_extra_fields", None)):
        extra = mcmc.get_extra_fields(group_by_chain=True)
        stats = {}
        for field, value in extra.items():
            a = np.asarray(value)
            if a.shape[:2] != (chains, draws):
                continue  # not one value per draw (e.g. adaptation state); not a stat
            name = _STAT_NAMES.get(field, field)
            stats[name] = -a if field == "potential_energy" else a

    observed = None
    if callable(getattr(mcmc, "observed_data", None)):
        observed = mcmc.observed_data()

    loglik = None
    if isinstance(log_likelihood, Mapping):
        loglik = log_likelihood
    elif log_likelihood and callable(getattr(mcmc, "log_likelihood", None)):
        loglik = mcmc.log_likelihood()

    # The model's spec says which sites are observed (``mcmc.model_spec()``, where the
    # run has one); else the names in the observed data do.
    spec = mcmc.model_spec() if callable(getattr(mcmc, "model_spec", None)) else None
    observed_names = set(observed or ()) if spec is None else set(spec.observed)
    if spec is not None:
        dims = {**_plate_dims(spec, posterior, observed), **(dims or {})}

    prior_group = prior_predictive = None
    if prior is not None:
        prior_group = {k: np.asarray(v)[None] for k, v in prior.items() if k not in observed_names}
        prior_predictive = {k: np.asarray(v)[None] for k, v in prior.items() if k in observed_names}

    post_pred = None
    if posterior_predictive is not None:
        post_pred = {
            k: _with_chain_draw(k, v, chains, draws) for k, v in posterior_predictive.items()
        }

    return from_samples(
        posterior,
        sample_stats=stats,
        observed_data=observed,
        log_likelihood=loglik,
        prior=prior_group,
        prior_predictive=prior_predictive,
        posterior_predictive=post_pred,
        coords=coords,
        dims=dims,
    )
