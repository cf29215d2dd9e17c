"""Autoguides, as NumPyro's ``numpyro.infer.autoguide`` spells them.

``from inference.autoguide import AutoNormal``; the same classes are exported from
``inference``.
"""

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
from ._autoguide_flows import AutoBNAFNormal as AutoBNAFNormal, AutoIAFNormal as AutoIAFNormal
