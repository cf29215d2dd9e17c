"""Posterior summary table: moments, HPDI, ESS, R-hat and MCSE for each site."""

import itertools
from collections.abc import Mapping

import numpy as np
from jaxtyping import ArrayLike

from ._diagnostics import ess_bulk, ess_tail, hpdi, mcse_mean, rhat

__all__ = ["format_summary", "print_summary", "summary"]

# Column order of the printed table; the interval columns go after "median".
_COLUMNS_BEFORE = ("mean", "std", "median")
_COLUMNS_AFTER = ("mcse_mean", "ess_bulk", "ess_tail", "r_hat")


def _interval_labels(prob: float) -> tuple[str, str]:
    return f"{50.0 * (1.0 - prob):.1f}%", f"{50.0 * (1.0 + prob):.1f}%"


def _grouped(name: str, value: ArrayLike, group_by_chain: bool) -> np.ndarray:
    a = np.asarray(value)
    if not group_by_chain:
        a = a[None]
    if a.ndim < 2:
        raise ValueError(
            f"summary expects site {name!r} shaped (chains, draws, ...) with "
            f"group_by_chain=True, or (draws, ...) with group_by_chain=False; got shape "
            f"{np.shape(value)}. Pass group_by_chain=False for draws without a chain axis."
        )
    return a.astype(np.float64)


def summary(
    samples: Mapping[str, ArrayLike], prob: float = 0.9, group_by_chain: bool = True
) -> dict[str, dict[str, np.ndarray]]:
    """Summary statistics of posterior draws, per site.

    Arguments:
        samples: site name -> draws shaped ``(chains, draws, *shape)``, or ``(draws, *shape)``
            when ``group_by_chain=False`` (then treated as a single chain).
        prob: mass of the highest posterior density interval.
        group_by_chain: whether the draws have a leading chain axis.

    Returns:
        site name -> statistic -> array of the site's ``shape``. The statistics are
        ``mean``, ``std`` (ddof=1), ``median``, the HPDI bounds labelled by their quantile
        level (``"5.0%"`` and ``"95.0%"`` for ``prob=0.9``), ``mcse_mean``, ``ess_bulk``,
        ``ess_tail``, ``r_hat`` (rank-normalised split R-hat) and ``n_eff``, the same array
        as ``ess_bulk``, for code written against NumPyro's summary.

    Example:
        >>> import numpy as np
        >>> draws = {"theta": np.random.default_rng(0).normal(size=(2, 500, 3))}
        >>> stats = summary(draws)["theta"]
        >>> list(stats)[:5]
        ['mean', 'std', 'median', '5.0%', '95.0%']
        >>> stats["mean"].shape
        (3,)
    """
    if not 0.0 < prob < 1.0:
        raise ValueError(f"summary needs 0 < prob < 1; got prob={prob}.")
    lower, upper = _interval_labels(prob)
    out: dict[str, dict[str, np.ndarray]] = {}
    for name, value in samples.items():
        a = _grouped(name, value, group_by_chain)
        pooled = a.reshape((-1,) + a.shape[2:])
        interval = hpdi(pooled, prob=prob, axis=0)
        bulk = ess_bulk(a)
        out[name] = {
            "mean": np.asarray(pooled.mean(axis=0)),
            "std": np.asarray(pooled.std(axis=0, ddof=1)),
            "median": np.asarray(np.median(pooled, axis=0)),
            lower: np.asarray(interval[0]),
            upper: np.asarray(interval[1]),
            "mcse_mean": mcse_mean(a),
            "ess_bulk": bulk,
            "ess_tail": ess_tail(a),
            "r_hat": rhat(a),
            "n_eff": bulk,
        }
    return out


def _count_divergences(divergences: ArrayLike | None, extra: Mapping | None) -> int | None:
    if divergences is None and extra is not None and "diverging" in extra:
        divergences = extra["diverging"]
    if divergences is None:
        return None
    d = np.asarray(divergences)
    # A scalar is a count already; an array holds one flag per draw.
    return int(d) if d.ndim == 0 else int(np.count_nonzero(d))


def _format_cell(column: str, value: float) -> str:
    if not np.isfinite(value):
        return "nan"
    if column.startswith("ess"):
        return f"{value:.0f}"
    if column == "mcse_mean":
        return f"{value:.3f}"
    return f"{value:.2f}"


def format_summary(
    samples: Mapping[str, ArrayLike],
    prob: float = 0.9,
    group_by_chain: bool = True,
    extra: Mapping | None = None,
    *,
    divergences: ArrayLike | None = None,
) -> str:
    """The summary table as text: one row per scalar, e.g. ``theta[0]`` or ``L[1,0]``.

    Arguments are those of :func:`summary`, plus:
        extra: extra sampler fields, such as ``MCMC.get_extra_fields()``; when they hold
            ``"diverging"``, the number of divergences is reported.
        divergences: the number of divergent transitions, or an array of per-draw flags.
            Takes precedence over ``extra``.

    Example:
        >>> import numpy as np
        >>> draws = {"mu": np.zeros((2, 100)) + np.arange(100) % 7}
        >>> print(format_summary(draws, divergences=0).splitlines()[-1])
        Number of divergences: 0
    """
    stats = summary(samples, prob=prob, group_by_chain=group_by_chain)
    columns = _COLUMNS_BEFORE + _interval_labels(prob) + _COLUMNS_AFTER
    rows: list[list[str]] = []
    for name, site in stats.items():
        shape = site["mean"].shape
        for index in itertools.product(*(range(n) for n in shape)):
            label = name if not shape else f"{name}[{','.join(map(str, index))}]"
            rows.append([label] + [_format_cell(c, float(site[c][index])) for c in columns])
    header = [""] + list(columns)
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    widths[1:] = [w + 2 for w in widths[1:]]
    lines = ["".join(cell.rjust(w) for cell, w in zip(r, widths)) for r in [header] + rows]
    n_div = _count_divergences(divergences, extra)
    if n_div is not None:
        lines += ["", f"Number of divergences: {n_div}"]
    return "\n".join(lines)


def print_summary(
    samples: Mapping[str, ArrayLike],
    prob: float = 0.9,
    group_by_chain: bool = True,
    extra: Mapping | None = None,
    *,
    divergences: ArrayLike | None = None,
) -> str:
    """Print the summary table of :func:`format_summary` and return it.

    Example:
        >>> import numpy as np
        >>> draws = {"theta": np.random.default_rng(0).normal(size=(2, 500, 2))}
        >>> text = print_summary(draws)  # doctest: +NORMALIZE_WHITESPACE
        <BLANKLINE>
                   mean   std  median   5.0%  95.0%  mcse_mean  ess_bulk  ess_tail  r_hat
        theta[0]  -0.03  1.02   -0.03  -1.54   1.74      0.036       805       946   1.00
        theta[1]  -0.03  0.98   -0.04  -1.49   1.64      0.030      1074       999   1.00
        <BLANKLINE>
    """
    text = format_summary(
        samples, prob=prob, group_by_chain=group_by_chain, extra=extra, divergences=divergences
    )
    print("\n" + text + "\n")
    return text
