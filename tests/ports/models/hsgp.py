# NumPyro's examples/hsgp.py: Hilbert-space approximate Gaussian processes for the
# births-per-day case study, its components composed under the `scope` handler. Two of the
# example's components are left out: the periodic year GP (`year_gp`), whose Bessel
# functions come from tensorflow-probability, which neither framework depends on, and the
# 366 horseshoe day-of-year effects (`yearday_effect`), too many latents for a short test.
# The rest is the example's code. The births data (downloaded by the example) are replaced
# by two synthetic years, drawn by NumPy with a smooth trend, a weekday pattern and dips on
# the floating holidays; the holidays come from the example's pandas functions (with
# `.dt.day_of_week` for `.dt.weekday`, which pandas 3 deprecates: the same numbers).
import numpy as np
import pandas as pd

import jax.numpy as jnp

from numpyro import deterministic, plate, sample
import numpyro.distributions as dist
from numpyro.handlers import scope
from numpyro.infer import MCMC, NUTS, init_to_median


# --- Data processing functions
def get_labour_days(dates):
    """
    First monday of September
    """
    is_september = dates.dt.month.eq(9)
    is_monday = dates.dt.day_of_week.eq(0)
    is_first_week = dates.dt.day.le(7)

    is_labour_day = is_september & is_monday & is_first_week
    is_day_after = is_labour_day.shift(fill_value=False)

    return is_labour_day | is_day_after


def get_memorial_days(dates):
    """
    Last monday of May
    """
    is_may = dates.dt.month.eq(5)
    is_monday = dates.dt.day_of_week.eq(0)
    is_last_week = dates.dt.day.ge(25)

    is_memorial_day = is_may & is_monday & is_last_week
    is_day_after = is_memorial_day.shift(fill_value=False)

    return is_memorial_day | is_day_after


def get_thanksgiving_days(dates):
    """
    Third thursday of November
    """
    is_november = dates.dt.month.eq(11)
    is_thursday = dates.dt.day_of_week.eq(3)
    is_third_week = dates.dt.day.between(22, 28)

    is_thanksgiving = is_november & is_thursday & is_third_week
    is_day_after = is_thanksgiving.shift(fill_value=False)

    return is_thanksgiving | is_day_after


def get_floating_days_indicators(dates):
    def encode(x):
        return jnp.array(x.values, dtype=jnp.result_type(int))

    return {
        "labour_days_indicator": encode(get_labour_days(dates)),
        "memorial_days_indicator": encode(get_memorial_days(dates)),
        "thanksgiving_days_indicator": encode(get_thanksgiving_days(dates)),
    }


def load_data(num_days=730, seed=0):
    # In place of the example's download: the case study's columns for `num_days` days
    # from 1 January 1969, with births_relative drawn by NumPy.
    rng = np.random.default_rng(seed)
    day0 = pd.to_datetime("31-Dec-1968")
    data = pd.DataFrame({"id": np.arange(1, num_days + 1)})
    data["date"] = [day0 + pd.Timedelta(f"{i}D") for i in data["id"]]
    data["day_of_week"] = data["date"].dt.day_of_week + 1  # Monday = 1, as in the data
    data["day_of_year"] = data["date"].dt.day_of_year
    holidays = sum(np.asarray(v) for v in get_floating_days_indicators(data["date"]).values())
    weekday_effect_true = np.array([0.02, 0.05, 0.03, 0.03, 0.02, -0.12, -0.18])
    births = (
        1.0
        + 0.04 * np.sin(2 * np.pi * data["id"] / 900.0)
        + weekday_effect_true[data["day_of_week"] - 1]
        - 0.08 * holidays
        + 0.03 * rng.normal(size=num_days)
    )
    data["births"] = 10000 * births
    data["births_relative"] = data["births"] / data["births"].mean()
    return data


def make_birthdays_data_dict(data):
    x = data["id"].values
    y = data["births_relative"].values
    dates = data["date"]

    xsd = jnp.array((x - x.mean()) / x.std())
    ysd = jnp.array((y - y.mean()) / y.std())
    day_of_week = jnp.array((data["day_of_week"] - 1).values)
    floating_days = get_floating_days_indicators(dates)
    L = 1.5 * max(xsd)
    M1 = 10
    M3 = 5

    return {
        "x": xsd,
        "day_of_week": day_of_week,
        "L": L,
        "M1": M1,
        "M3": M3,
        **floating_days,
        "y": ysd,
    }


# --- Modelling utility functions --- #
def spectral_density(w, alpha, length):
    c = alpha * jnp.sqrt(2 * jnp.pi) * length
    e = jnp.exp(-0.5 * (length**2) * (w**2))
    return c * e


def diag_spectral_density(alpha, length, L, M):
    sqrt_eigenvalues = jnp.arange(1, 1 + M) * jnp.pi / 2 / L
    return spectral_density(sqrt_eigenvalues, alpha, length)


def eigenfunctions(x, L, M):
    """
    The first `M` eigenfunctions of the laplacian operator in `[-L, L]`
    evaluated at `x`. These are used for the approximation of the
    squared exponential kernel.
    """
    m1 = (jnp.pi / (2 * L)) * jnp.tile(L + x[:, None], M)
    m2 = jnp.diag(jnp.linspace(1, M, num=M))
    num = jnp.sin(m1 @ m2)
    den = jnp.sqrt(L)
    return num / den


# --- Approximate Gaussian processes --- #
def approx_se_ncp(x, alpha, length, L, M):
    """
    Hilbert space approximation for the squared
    exponential kernel in the non-centered parametrisation.
    """
    phi = eigenfunctions(x, L, M)
    spd = jnp.sqrt(diag_spectral_density(alpha, length, L, M))
    with plate("basis", M):
        beta = sample("beta", dist.Normal(0, 1))

    f = deterministic("f", phi @ (spd * beta))
    return f


# --- Components of the Birthdays model --- #
def trend_gp(x, L, M):
    alpha = sample("alpha", dist.HalfNormal(1.0))
    length = sample("length", dist.InverseGamma(10.0, 2.0))
    f = approx_se_ncp(x, alpha, length, L, M)
    return f


def weekday_effect(day_of_week):
    with plate("plate_day_of_week", 6):
        weekday = sample("_beta", dist.Normal(0, 1))

    monday = jnp.array([-jnp.sum(weekday)])  # Monday = 0 in original
    beta = deterministic("beta", jnp.concatenate((monday, weekday)))
    return beta[day_of_week]


def special_effect(indicator):
    beta = sample("beta", dist.Normal(0, 1))
    return beta * indicator


# --- Model --- #
# The example's birthdays_model without f2 (year_gp) and yearday (yearday_effect).
def birthdays_model(
    x,
    day_of_week,
    memorial_days_indicator,
    labour_days_indicator,
    thanksgiving_days_indicator,
    L,
    M1,
    M3,
    y=None,
):
    intercept = sample("intercept", dist.Normal(0, 1))
    f1 = scope(trend_gp, "trend")(x, L, M1)
    g3 = scope(trend_gp, "week-trend")(x, L, M3)  # length ~ lognormal(-1, 1) in original
    weekday = scope(weekday_effect, "week")(day_of_week)

    # # --- special days
    memorial = scope(special_effect, "memorial")(memorial_days_indicator)
    labour = scope(special_effect, "labour")(labour_days_indicator)
    thanksgiving = scope(special_effect, "thanksgiving")(thanksgiving_days_indicator)

    day = memorial + labour + thanksgiving
    # --- Combine components
    f = deterministic("f", intercept + f1 + jnp.exp(g3) * weekday + day)
    sigma = sample("sigma", dist.HalfNormal(0.5))
    with plate("obs", x.shape[0]):
        sample("y", dist.Normal(f, sigma), obs=y)


def run(rng_key, num_warmup, num_samples, num_chains):
    data = load_data()
    data_dict = make_birthdays_data_dict(data)
    mcmc = MCMC(
        NUTS(birthdays_model, init_strategy=init_to_median),
        num_warmup=num_warmup,
        num_samples=num_samples,
        num_chains=num_chains,
        progress_bar=False,
    )
    mcmc.run(rng_key, **data_dict)
    samples = mcmc.get_samples()
    sites = ["intercept", "sigma", "week/beta", "memorial/beta", "labour/beta"]
    sites += ["thanksgiving/beta", "trend/alpha", "trend/length"]
    out = {k: samples[k] for k in sites}
    # The fitted curves on every 73rd day.
    out["f"] = samples["f"][:, ::73]
    out["trend/f"] = samples["trend/f"][:, ::73]
    out["week-trend/f"] = samples["week-trend/f"][:, ::73]
    return out


# The harness's settings for the Effax test run (one chain): (num_warmup, num_samples).
TEST_SIZES = (500, 1000)
