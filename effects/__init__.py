"""The effect vocabulary that models use, and the runner.

A model is a plain Python function that performs effects (``sample``, ``param``,
``plate``, ...). What they mean is decided from outside by handlers (see ``handlers``).
"""

from ._config import (
    enable_x64 as enable_x64,
    set_host_device_count as set_host_device_count,
    set_platform as set_platform,
)
from ._control_flow import (
    Cond as Cond,
    Scan as Scan,
    ScanStep as ScanStep,
    cond as cond,
    scan as scan,
    scan_lengths as scan_lengths,
)
from ._handler import Handler as Handler
from ._messages import (
    AbstractSite as AbstractSite,
    CondIndepStackFrame as CondIndepStackFrame,
    Deterministic as Deterministic,
    Effect as Effect,
    Factor as Factor,
    Indexed as Indexed,
    Param as Param,
    Plate as Plate,
    PRNGKey as PRNGKey,
    Sample as Sample,
    Site as Site,
    Subsample as Subsample,
    mask_and_scale as mask_and_scale,
)
from ._plate import (
    AllocateDim as AllocateDim,
    PlateHandler as PlateHandler,
    ReleaseDim as ReleaseDim,
    plate as plate,
)
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
    isolated as isolated,
    perform as perform,
    run as run,
)
from ._support import (
    distribution_layers as distribution_layers,
    observed_violations as observed_violations,
    opted_out_of_validation as opted_out_of_validation,
)
from ._util import FrozenDict as FrozenDict, stable_hash as stable_hash
from ._version import __version__ as __version__


def __getattr__(name: str):
    """``numpyro.handlers``, ``numpyro.distributions`` and ``numpyro.infer`` in a script
    ported with ``import effects as numpyro``: the sibling packages, looked up when used
    (``effects`` itself never imports them)."""
    import importlib

    siblings = {
        "handlers": "handlers",
        "distributions": "dists",
        "infer": "inference",
        "optim": "inference.optim",
    }
    if name in siblings:
        return importlib.import_module(siblings[name])
    raise AttributeError(f"module 'effects' has no attribute {name!r}")
