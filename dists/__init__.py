"""Distributions, constraints and bijective transforms.

This package stands alone: it does not import ``effects`` or ``handlers``.
Each helper module's public names are re-exported here, one import per name.

Parameter checks. A distribution checks its parameters against ``arg_constraints`` when
it is built. By default (``validate_args=None``) concrete values are checked and a bad
one raises ``ValueError`` naming the family, the parameter, the constraint and the value;
traced values (under ``jit``, or mapped by ``vmap``, or differentiated) are not checked and
cost nothing. ``validate_args=True`` also checks traced values at run time and makes
``log_prob`` check its values against the support; ``validate_args=False`` checks nothing.

NumPyro's helpers. ``dists.util`` holds what models import from
``numpyro.distributions.util`` (``vec_to_tril_matrix``, ``promote_shapes``,
``lazy_property``, ...). A new family can subclass ``Distribution`` as NumPyro users do;
see the docstring of ``Distribution``.
"""

# --- transforms (dists/_transforms.py, dists/_biject_to.py) ---
# (also _elementwise_transforms.py, _vector_transforms.py, _matrix_transforms.py)
from . import constraints as constraints, transforms as transforms, util as util
from ._biject_to import biject_to as biject_to, transform_to as transform_to
from ._constraints import Constraint as Constraint

# --- continuous families (dists/_continuous.py) ---
from ._continuous import (
    AsymmetricLaplace as AsymmetricLaplace,
    Cauchy as Cauchy,
    Exponential as Exponential,
    Gumbel as Gumbel,
    HalfCauchy as HalfCauchy,
    HalfNormal as HalfNormal,
    Laplace as Laplace,
    Logistic as Logistic,
    LogNormal as LogNormal,
    LogUniform as LogUniform,
    Uniform as Uniform,
)
from ._continuous2 import (
    Beta as Beta,
    Chi2 as Chi2,
    Gamma as Gamma,
    InverseGamma as InverseGamma,
    Kumaraswamy as Kumaraswamy,
    Pareto as Pareto,
    StudentT as StudentT,
    TruncatedNormal as TruncatedNormal,
    VonMises as VonMises,
    Weibull as Weibull,
)

# --- discrete families (dists/_discrete.py) ---
from ._discrete import (
    Bernoulli as Bernoulli,
    BetaBinomial as BetaBinomial,
    Binomial as Binomial,
    Categorical as Categorical,
    DiscreteUniform as DiscreteUniform,
    GammaPoisson as GammaPoisson,
    Geometric as Geometric,
    Multinomial as Multinomial,
    NegativeBinomial2 as NegativeBinomial2,
    NegativeBinomialLogits as NegativeBinomialLogits,
    NegativeBinomialProbs as NegativeBinomialProbs,
    OrderedLogistic as OrderedLogistic,
    Poisson as Poisson,
    ZeroInflatedPoisson as ZeroInflatedPoisson,
)
from ._distribution import (
    Distribution as Distribution,
    ExpandedDistribution as ExpandedDistribution,
    Independent as Independent,
    MaskedDistribution as MaskedDistribution,
)
from ._elementwise_transforms import (
    AffineTransform as AffineTransform,
    ExpTransform as ExpTransform,
    IdentityTransform as IdentityTransform,
    PowerTransform as PowerTransform,
    SigmoidTransform as SigmoidTransform,
    SoftplusTransform as SoftplusTransform,
    TanhTransform as TanhTransform,
)
from ._matrix_transforms import (
    CholeskyTransform as CholeskyTransform,
    CorrCholeskyTransform as CorrCholeskyTransform,
    CorrMatrixCholeskyTransform as CorrMatrixCholeskyTransform,
    LowerCholeskyAffine as LowerCholeskyAffine,
    LowerCholeskyTransform as LowerCholeskyTransform,
    PositiveDefiniteTransform as PositiveDefiniteTransform,
    ScaledUnitLowerCholeskyTransform as ScaledUnitLowerCholeskyTransform,
)

# --- multivariate families (dists/_multivariate.py) ---
from ._multivariate import (
    LKJ as LKJ,
    Dirichlet as Dirichlet,
    GaussianRandomWalk as GaussianRandomWalk,
    LKJCholesky as LKJCholesky,
    LowRankMultivariateNormal as LowRankMultivariateNormal,
    MultivariateNormal as MultivariateNormal,
    MultivariateStudentT as MultivariateStudentT,
)
from ._normal import Normal as Normal
from ._transforms import (
    ComposeTransform as ComposeTransform,
    IndependentTransform as IndependentTransform,
    InverseTransform as InverseTransform,
    ReshapeTransform as ReshapeTransform,
    Transform as Transform,
)
from ._vector_transforms import (
    OrderedTransform as OrderedTransform,
    PermuteTransform as PermuteTransform,
    StickBreakingTransform as StickBreakingTransform,
)

# isort: split
# --- KL divergences in closed form (dists/_kl.py) ---
from ._kl import kl_divergence as kl_divergence, register_kl as register_kl

# isort: split
# --- wrappers (dists/_wrappers.py) ---
from ._wrappers import (
    Delta as Delta,
    ImproperUniform as ImproperUniform,
    Mixture as Mixture,
    MixtureGeneral as MixtureGeneral,
    MixtureSameFamily as MixtureSameFamily,
    TransformedDistribution as TransformedDistribution,
    Unit as Unit,
)
