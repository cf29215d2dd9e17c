"""The effect vocabulary that models use, and the runner.

A model is a plain Python function that performs effects (``sample``, ``param``,
``plate``, ...). What they mean is decided from outside by handlers (see ``handlers``).
"""

from ._control_flow import ScanStep as ScanStep, cond as cond, scan as scan
from ._handler import Handler as Handler
from ._messages import (
    AbstractSite as AbstractSite,
    CondIndepStackFrame as CondIndepStackFrame,
    Deterministic as Deterministic,
    Effect as Effect,
    Factor as Factor,
    Param as Param,
    Plate as Plate,
    PRNGKey as PRNGKey,
    Sample as Sample,
    Subsample as Subsample,
)
from ._plate import PlateHandler as PlateHandler, plate as plate
from ._primitives import (
    deterministic as deterministic,
    factor as factor,
    param as param,
    prng_key as prng_key,
    sample as sample,
    subsample as subsample,
)
from ._runtime import (
    Frame as Frame,
    Handled as Handled,
    Pipeline as Pipeline,
    UnhandledEffectError as UnhandledEffectError,
    current_frame as current_frame,
    identity as identity,
    perform as perform,
    run as run,
)
from ._util import FrozenDict as FrozenDict, stable_hash as stable_hash
