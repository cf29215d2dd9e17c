"""Every reparameteriser in one place, as NumPyro's ``numpyro.infer.reparam``.

``from inference.reparam import LocScaleReparam, NeuTraReparam`` is the Effax spelling of
``from numpyro.infer.reparam import ...``. The handler is ``handlers.reparam``; the
per-site reparameterisers live in ``handlers`` (they need only distributions), and
``NeuTraReparam``, which needs a trained autoguide, in ``inference``.
"""

from handlers import (
    CircularReparam as CircularReparam,
    JointReparam as JointReparam,
    LocScaleReparam as LocScaleReparam,
    ProjectedNormalReparam as ProjectedNormalReparam,
    Reparam as Reparam,
    TransformReparam as TransformReparam,
    rewrap as rewrap,
    unwrap as unwrap,
)

from ._neutra import NeuTraReparam as NeuTraReparam
