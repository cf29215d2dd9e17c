"""Render ``proofs/README.md`` from the law objects, so that the two stay in sync.

Regenerate with
``python -c "import proofs; print(proofs.render_readme(), end='')" > proofs/README.md``.
"""

from __future__ import annotations

_INTRO = """\
# proofs: the laws that handlers obey

Each law below is stated precisely, with a short argument for why it holds, and is
checked by hypothesis on generated models (`proofs.model_specs`) and generated handler
data. `tests/laws/` checks every law on the standard handlers.

This file is generated from the law objects:
`python -c "import proofs; print(proofs.render_readme(), end='')" > proofs/README.md`.

## Checking a new handler

```python
from typing import ClassVar
from effects import Handler, Sample
from proofs import check_handler_laws


class Tempering(Handler):
    \"\"\"Scale the log density of observed sites by beta.\"\"\"

    handles: ClassVar = (Sample,)
    beta: float

    def process(self, msg, state):
        if not msg.is_observed:
            return msg, state
        s = self.beta if msg.scale is None else self.beta * msg.scale
        return msg.replace(scale=s), state


report = check_handler_laws(lambda: Tempering(0.5))  # raises if a law fails
print(report)
```

`make_handler` may be a handler, a hypothesis strategy, a zero-argument factory, or a
function `f(draw)` / `f(draw, spec)` that draws a handler for the generated model `spec`.
Declare `touches=lambda h, spec: {...site names...}` to check commutation with handlers on
other sites, `idempotent=True` to check `h >> h == h`, and `seed_positions=("outside",)`
for handlers that need `seed` outside them (like `lift` and `uncondition`). A failure
raises an `AssertionError` naming the law, its statement and the minimal counterexample
(the model spec, the data and the key).

One law at a time: `run_law(get_law("scale_composition"))`, or
`run_law(get_law("handler_jit_transparency"), handler=Tempering(0.5))`.
Run the tests with the thorough profile: `EFFAX_HYPOTHESIS_PROFILE=thorough pytest tests/laws`.

## Generated models and costs

`model_specs()` draws tiny models (no dimension above 4): sample sites of the families in
`DEFAULT_FAMILIES` (`families="all"` adds every family `dists` exports, such as Gamma and
Poisson, whose samplers loop), nested and subsampled plates, observed sites, params,
factors, deterministic sites, and, in one model in eight, an effect-aware `scan` block.
Most of the time goes into XLA compiling each eager operation once per new shape, and
each eager `scan` once per run (JAX also keeps every eager scan's executable, about 8 MB,
for the life of the process), so shapes are drawn from a few sizes and scans are rare
unless a law needs them. `shrink=False` (in `run_law` and `check_handler_laws`) reports the
first counterexample without shrinking it, which is much quicker when examples compile.
"""


def render_readme() -> str:
    """The text of ``proofs/README.md``."""
    from ._registry import HANDLER_LAWS, MODEL_LAWS

    out = [_INTRO]
    out.append("\n## Laws of the standard handlers\n")
    for law in MODEL_LAWS:
        about = f" *(about: {', '.join(law.handlers)})*" if law.handlers else ""
        out.append(f"### `{law.name}`{about}\n")
        out.append(f"**Statement.** {law.statement}\n")
        out.append(f"**Argument.** {law.argument}\n")
    out.append("\n## Laws of every handler (`check_handler_laws`)\n")
    out.append(
        "Here h is the handler under test, run in `seed(k) >> h >> trace()` or "
        "`h >> seed(k) >> trace()`.\n"
    )
    for law in HANDLER_LAWS:
        needs = f" *(needs the declaration `{law.needs}`)*" if law.needs else ""
        out.append(f"### `{law.name}`{needs}\n")
        out.append(f"**Statement.** {law.statement}\n")
        out.append(f"**Argument.** {law.argument}\n")
    return "\n".join(out)
