"""The laws that handlers obey, each checkable with hypothesis on generated models.

Every law has a precise ``statement``, a short ``argument`` for why it holds, and a
``check`` that runs both sides on a generated model and asserts that they agree.
``LAWS`` is the registry (an immutable tuple). ``MODEL_LAWS`` are about the standard
handlers; ``HANDLER_LAWS`` are generic over a handler, and :func:`check_handler_laws`
runs them on a new one.

Checking a new handler::

    from typing import ClassVar
    from effects import Handler, Sample
    from proofs import check_handler_laws

    class Tempering(Handler):
        \"\"\"Scale the log density of observed sites by ``beta``.\"\"\"
        handles: ClassVar = (Sample,)
        beta: float

        def process(self, msg, state):
            if not msg.is_observed:
                return msg, state
            s = self.beta if msg.scale is None else self.beta * msg.scale
            return msg.replace(scale=s), state

    # A zero-argument factory, a handler, a hypothesis strategy, or f(draw[, spec]):
    report = check_handler_laws(lambda: Tempering(0.5), idempotent=False)
    print(report)   # raises AssertionError naming the failing law and a counterexample

Checking one law, by search or on one example::

    from proofs import get_law, run_law
    run_law(get_law("scale_composition"))
    run_law(get_law("handler_jit_transparency"), handler=Tempering(0.5))
"""

from ._compare import (
    assert_close as assert_close,
    assert_traces_equal as assert_traces_equal,
    assert_trees_close as assert_trees_close,
)
from ._entry import (
    HandlerLawsFailed as HandlerLawsFailed,
    LawResult as LawResult,
    Report as Report,
    check_handler_laws as check_handler_laws,
)
from ._families import Family as Family, available_families as available_families
from ._law import (
    HandlerCase as HandlerCase,
    HandlerLaw as HandlerLaw,
    Law as Law,
    LawViolation as LawViolation,
    handler_strategy as handler_strategy,
    run_law as run_law,
)
from ._readme import render_readme as render_readme
from ._registry import (
    HANDLER_LAWS as HANDLER_LAWS,
    LAWS as LAWS,
    MODEL_LAWS as MODEL_LAWS,
    get_law as get_law,
)
from ._spec import (
    ModelSpec as ModelSpec,
    PlateSpec as PlateSpec,
    ScanSpec as ScanSpec,
    SiteSpec as SiteSpec,
    build_model as build_model,
)
from ._standard import (
    STANDARD_HANDLERS as STANDARD_HANDLERS,
    StandardHandler as StandardHandler,
    pipelines as pipelines,
)
from ._strategies import (
    condition_data as condition_data,
    disjoint_subsets as disjoint_subsets,
    hide_sets as hide_sets,
    keys as keys,
    masks as masks,
    model_specs as model_specs,
    scales as scales,
    seeds as seeds,
    site_values as site_values,
    substitute_data as substitute_data,
)
