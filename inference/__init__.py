"""Inference: log densities, initialisation, MCMC kernels and driver, Predictive,
diagnostics and ArviZ export."""

# Kernels follow one protocol (MCMCKernel: init/step; Adaptation: init/step/params/final):
# NUTS, HMC, RandomWalk, ChEES and a user's own; nuts_kernel/hmc_kernel are the pure
# transitions on flat positions that NUTS and HMC wrap.
from ._adaptation import (
    AdaptState as AdaptState,
    HMCParams as HMCParams,
    WindowAdaptation as WindowAdaptation,
    adapt_final as adapt_final,
    adapt_init as adapt_init,
    adapt_update as adapt_update,
    warmup_schedule as warmup_schedule,
)
from ._arviz import from_samples as from_samples, to_arviz as to_arviz
from ._chees import (
    ChEES as ChEES,
    ChEESAdaptation as ChEESAdaptation,
    ChEESAdaptState as ChEESAdaptState,
    ChEESInfo as ChEESInfo,
    ChEESParams as ChEESParams,
    ChEESState as ChEESState,
    halton as halton,
)
from ._diagnostics import (
    autocorrelation as autocorrelation,
    autocovariance as autocovariance,
    effective_sample_size as effective_sample_size,
    ess_bulk as ess_bulk,
    ess_mean as ess_mean,
    ess_tail as ess_tail,
    hpdi as hpdi,
    mcse_mean as mcse_mean,
    mcse_sd as mcse_sd,
    nested_rhat as nested_rhat,
    nested_rhat_from_moments as nested_rhat_from_moments,
    quantiles as quantiles,
    rhat as rhat,
    rhat_from_moments as rhat_from_moments,
    split_rhat as split_rhat,
)
from ._functional import (
    HMCSamplerState as HMCSamplerState,
    fori_collect as fori_collect,
    hmc as hmc,
)
from ._hmc import (
    HMCInfo as HMCInfo,
    HMCState as HMCState,
    hmc_init as hmc_init,
    hmc_kernel as hmc_kernel,
)
from ._init import (
    InitStrategy as InitStrategy,
    ModelInfo as ModelInfo,
    ParamInfo as ParamInfo,
    find_valid_initial_params as find_valid_initial_params,
    init_to_feasible as init_to_feasible,
    init_to_mean as init_to_mean,
    init_to_median as init_to_median,
    init_to_sample as init_to_sample,
    init_to_uniform as init_to_uniform,
    init_to_value as init_to_value,
    initialize_model as initialize_model,
)

# --- MCMC driver / Predictive ---
from ._kernels import HMC as HMC, NUTS as NUTS
from ._log_density import (
    ConstrainFn as ConstrainFn,
    LogJoint as LogJoint,
    PotentialFn as PotentialFn,
    ToSupport as ToSupport,
    constrain_fn as constrain_fn,
    log_density as log_density,
    potential_energy as potential_energy,
    unconstrain_fn as unconstrain_fn,
)
from ._mcmc import MCMC as MCMC, ChainState as ChainState
from ._model_args import ModelArgs as ModelArgs, TracedArgumentError as TracedArgumentError
from ._model_spec import (
    ModelSpec as ModelSpec,
    PlateInfo as PlateInfo,
    SiteInfo as SiteInfo,
    model_spec as model_spec,
)
from ._nuts import (
    NUTSInfo as NUTSInfo,
    NUTSState as NUTSState,
    nuts_init as nuts_init,
    nuts_kernel as nuts_kernel,
)
from ._predictive import Predictive as Predictive, log_likelihood as log_likelihood
from ._protocol import (
    Adaptation as Adaptation,
    MCMCKernel as MCMCKernel,
    NoAdaptation as NoAdaptation,
    RavelledState as RavelledState,
)
from ._rwm import (
    EnsembleRobbinsMonro as EnsembleRobbinsMonro,
    RandomWalk as RandomWalk,
    RobbinsMonro as RobbinsMonro,
    RWMInfo as RWMInfo,
    RWMParams as RWMParams,
    RWMState as RWMState,
    ScaleAdaptState as ScaleAdaptState,
)
from ._step_size import find_reasonable_step_size as find_reasonable_step_size
from ._streaming import (
    Moments as Moments,
    combine_moments as combine_moments,
    moments_of as moments_of,
)
from ._summary import (
    format_summary as format_summary,
    print_summary as print_summary,
    summary as summary,
)

# isort: split
# --- variational inference (SVI, ELBOs, optimisers, Equinox modules as parts) ---
from . import autoguide as autoguide, optim as optim
from ._autoguide import (
    AutoContinuous as AutoContinuous,
    AutoDelta as AutoDelta,
    AutoDiagonalNormal as AutoDiagonalNormal,
    AutoGuide as AutoGuide,
    AutoGuideList as AutoGuideList,
    AutoLaplaceApproximation as AutoLaplaceApproximation,
    AutoLowRankMultivariateNormal as AutoLowRankMultivariateNormal,
    AutoMultivariateNormal as AutoMultivariateNormal,
    AutoNormal as AutoNormal,
)
from ._autoguide_flows import (
    AutoBNAFNormal as AutoBNAFNormal,
    AutoIAFNormal as AutoIAFNormal,
    FlowTransform as FlowTransform,
)
from ._elbo import (
    ELBO as ELBO,
    RenyiELBO as RenyiELBO,
    Trace_ELBO as Trace_ELBO,
    TraceEnum_ELBO as TraceEnum_ELBO,
    TraceGraph_ELBO as TraceGraph_ELBO,
    TraceMeanField_ELBO as TraceMeanField_ELBO,
)
from ._module import (
    eqx_module as eqx_module,
    module_leaf_paths as module_leaf_paths,
    random_eqx_module as random_eqx_module,
)
from ._svi import SVI as SVI, SVIRunResult as SVIRunResult, SVIState as SVIState

# isort: split
# --- enumeration: contraction of enumerated factors, infer_discrete ---
from ._contract import contract_factors as contract_factors
from ._discrete import infer_discrete as infer_discrete

# isort: split
# --- reparameterisers: neural transport (the others are in handlers; all in .reparam) ---
from . import reparam as reparam
from ._neutra import NeuTraReparam as NeuTraReparam
