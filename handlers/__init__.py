"""Handlers: interpretations of effects, as immutable ``eqx.Module`` values.

Compose them into a pipeline with ``>>`` (innermost first) and run a model with
``effects.run(model, pipeline)``, or use them NumPyro style: ``trace(seed(model, 0))``.
"""

from effects import (
    Handled as Handled,
    Handler as Handler,
    Pipeline as Pipeline,
    identity as identity,
    run as run,
)

from ._block import Block as Block, block as block
from ._condition import (
    Condition as Condition,
    Substitute as Substitute,
    condition as condition,
    substitute as substitute,
)
from ._dims import Dims as Dims, DimTable as DimTable, dims as dims
from ._factors import (
    Factors as Factors,
    LogFactor as LogFactor,
    factors as factors,
    sum_factors as sum_factors,
)
from ._scale_mask import Mask as Mask, Scale as Scale, mask as mask, scale as scale
from ._seed import Seed as Seed, seed as seed, site_key as site_key
from ._trace import Trace as Trace, TraceHandler as TraceHandler, trace as trace

# isort: split
# --- more handlers (replay, scope, lift, do, uncondition, infer_config) ---
from ._do import Do as Do, do as do
from ._infer_config import InferConfig as InferConfig, infer_config as infer_config
from ._lift import Lift as Lift, lift as lift
from ._replay import Replay as Replay, replay as replay
from ._scope import Scope as Scope, scope as scope
from ._uncondition import Uncondition as Uncondition, uncondition as uncondition

# isort: split
# --- enumeration of discrete latent sites ---
from ._enum import Enum as Enum, config_enumerate as config_enumerate, enum as enum
from ._markov import MarkovStep as MarkovStep, markov as markov

# isort: split
# --- reparameterisers (NeuTraReparam lives in inference; all are in inference.reparam) ---
from ._reparam import (
    CircularReparam as CircularReparam,
    JointReparam as JointReparam,
    LocScaleReparam as LocScaleReparam,
    ProjectedNormalReparam as ProjectedNormalReparam,
    Reparam as Reparam,
    ReparamHandler as ReparamHandler,
    TransformReparam as TransformReparam,
    reparam as reparam,
    rewrap as rewrap,
    unwrap as unwrap,
)
