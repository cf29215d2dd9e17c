"""Public transform namespace: ``from dists import transforms``."""

from ._biject_to import biject_to as biject_to, transform_to as transform_to
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
