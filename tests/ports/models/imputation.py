# NumPyro's notebook bayesian_imputation.ipynb: logistic regression of Titanic survival
# with the missing ages imputed inside the model, as the notebook writes it (a latent site
# `age_impute` whose density is masked off, written into the age vector, which is then
# observed), and the same imputation written with `obs_mask=` (NumPyro's
# `age_unobserved` site). The Titanic table is replaced by a small synthetic one of the same
# columns, drawn by NumPy, with a fifth of the ages missing.
import numpy as np

from jax import numpy as jnp, random

import numpyro
from numpyro import distributions as dist
from numpyro.infer import MCMC, NUTS, Predictive


def model(age, pclass, title, sex, sibsp, parch, embarked, survived=None, bayesian_impute=True):
    b_pclass = numpyro.sample("b_Pclass", dist.Normal(0, 1).expand([3]))
    b_title = numpyro.sample("b_Title", dist.Normal(0, 1).expand([5]))
    b_sex = numpyro.sample("b_Sex", dist.Normal(0, 1).expand([2]))
    b_sibsp = numpyro.sample("b_SibSp", dist.Normal(0, 1).expand([2]))
    b_parch = numpyro.sample("b_Parch", dist.Normal(0, 1).expand([3]))
    b_embarked = numpyro.sample("b_Embarked", dist.Normal(0, 1).expand([3]))

    # impute age by Title
    isnan = np.isnan(age)
    age_nanidx = np.nonzero(isnan)[0]
    if bayesian_impute:
        age_mu = numpyro.sample("age_mu", dist.Normal(0, 1).expand([5]))
        age_mu = age_mu[title]
        age_sigma = numpyro.sample("age_sigma", dist.Normal(0, 1).expand([5]))
        age_sigma = age_sigma[title]
        age_impute = numpyro.sample(
            "age_impute",
            dist.Normal(age_mu[age_nanidx], age_sigma[age_nanidx]).mask(False),
        )
        age = jnp.asarray(age).at[age_nanidx].set(age_impute)
        numpyro.sample("age", dist.Normal(age_mu, age_sigma), obs=age)
    else:
        # fill missing data by the mean of ages for each title
        age_impute = age_mean_by_title[title][age_nanidx]
        age = jnp.asarray(age).at[age_nanidx].set(age_impute)

    a = numpyro.sample("a", dist.Normal(0, 1))
    b_age = numpyro.sample("b_Age", dist.Normal(0, 1))
    logits = a + b_age * age
    logits = logits + b_title[title] + b_pclass[pclass] + b_sex[sex]
    logits = logits + b_sibsp[sibsp] + b_parch[parch] + b_embarked[embarked]
    numpyro.sample("survived", dist.Bernoulli(logits=logits), obs=survived)


# The same model with the imputation written by `obs_mask`: the missing entries of `age`
# become the latent site `age_unobserved`. (NumPyro's docs say obs_mask is not meant for
# MCMC, whose unobserved site also has the observed entries as flat directions, so it is
# used here for posterior prediction only.)
def model_obs_mask(age, pclass, title, sex, sibsp, parch, embarked, survived=None):
    b_pclass = numpyro.sample("b_Pclass", dist.Normal(0, 1).expand([3]))
    b_title = numpyro.sample("b_Title", dist.Normal(0, 1).expand([5]))
    b_sex = numpyro.sample("b_Sex", dist.Normal(0, 1).expand([2]))
    b_sibsp = numpyro.sample("b_SibSp", dist.Normal(0, 1).expand([2]))
    b_parch = numpyro.sample("b_Parch", dist.Normal(0, 1).expand([3]))
    b_embarked = numpyro.sample("b_Embarked", dist.Normal(0, 1).expand([3]))

    age_mu = numpyro.sample("age_mu", dist.Normal(0, 1).expand([5]))
    age_sigma = numpyro.sample("age_sigma", dist.Normal(0, 1).expand([5]))
    isnan = np.isnan(age)
    age = numpyro.sample(
        "age",
        dist.Normal(age_mu[title], age_sigma[title]),
        obs=np.nan_to_num(age),
        obs_mask=~isnan,
    )

    a = numpyro.sample("a", dist.Normal(0, 1))
    b_age = numpyro.sample("b_Age", dist.Normal(0, 1))
    logits = a + b_age * age
    logits = logits + b_title[title] + b_pclass[pclass] + b_sex[sex]
    logits = logits + b_sibsp[sibsp] + b_parch[parch] + b_embarked[embarked]
    numpyro.sample("survived", dist.Bernoulli(logits=logits), obs=survived)


def make_data(n=150, seed=0):
    # Columns coded as in the notebook: pclass 0-2, title 0-4 (Mr, Miss, Mrs, Master,
    # Misc), sex 1 for male, sibsp 0-1, parch 0-2, embarked 0-2; age standardised, a fifth
    # of it missing (NaN).
    rng = np.random.default_rng(seed)
    title = rng.choice(5, size=n, p=[0.55, 0.2, 0.15, 0.05, 0.05])
    sex = np.where(np.isin(title, [0, 3]), 1, 0)
    age = np.array([-0.2, -0.5, 0.5, -2.0, 1.0])[title] + 0.8 * rng.normal(size=n)
    pclass = rng.choice(3, size=n, p=[0.25, 0.2, 0.55])
    logits = 1.0 - 2.5 * sex - 0.8 * pclass - 0.4 * age
    data = dict(
        age=np.where(rng.uniform(size=n) < 0.2, np.nan, age),
        pclass=pclass,
        title=title,
        sex=sex,
        sibsp=rng.choice(2, size=n, p=[0.7, 0.3]),
        parch=rng.choice(3, size=n, p=[0.75, 0.15, 0.1]),
        embarked=rng.choice(3, size=n, p=[0.7, 0.2, 0.1]),
    )
    survived = (rng.uniform(size=n) < 1 / (1 + np.exp(-logits))).astype(np.int64)
    return data, survived


data, survived = make_data()
# compute the age mean for each title
age_notnan = data["age"][jnp.isfinite(data["age"])]
title_notnan = data["title"][jnp.isfinite(data["age"])]
age_mean_by_title = jnp.stack([age_notnan[title_notnan == i].mean() for i in range(5)])


def run(rng_key, num_warmup, num_samples, num_chains):
    rng_key, rng_key_predict = random.split(rng_key)
    mcmc = MCMC(
        NUTS(model),
        num_warmup=num_warmup,
        num_samples=num_samples,
        num_chains=num_chains,
        progress_bar=False,
    )
    mcmc.run(rng_key, **data, survived=survived)
    posterior = mcmc.get_samples()
    survived_pred = Predictive(model, posterior)(rng_key_predict, **data)["survived"]
    # The obs_mask model's age site from the same posterior: observed ages kept, missing
    # ones drawn from their conditional prior given the posterior's age_mu and age_sigma.
    age_pred = Predictive(model_obs_mask, posterior, return_sites=["age"])(rng_key_predict, **data)[
        "age"
    ]
    missing = np.nonzero(np.isnan(data["age"]))[0]
    return dict(
        posterior,
        survived_rate=survived_pred.mean(axis=1),
        age_pred_missing=age_pred[:, missing],
    )


# The harness's settings for the Effax test run (one chain): (num_warmup, num_samples).
TEST_SIZES = (500, 1000)
