"""Public helper namespace, NumPyro's ``numpyro.distributions.util``:
``from dists.util import vec_to_tril_matrix``.

Shape and numerical helpers, triangular-matrix and Cholesky helpers, and the pieces for
writing a distribution the NumPyro way (``promote_shapes``, ``lazy_property``,
``validate_sample``; see ``Distribution``).
"""

from ._continuous2 import von_mises_centered as von_mises_centered
from ._linalg import (
    add_diag as add_diag,
    cholesky_of_inverse as cholesky_of_inverse,
    cholesky_update as cholesky_update,
    logmatmulexp as logmatmulexp,
    matrix_to_tril_vec as matrix_to_tril_vec,
    signed_stick_breaking_tril as signed_stick_breaking_tril,
    vec_to_tril_matrix as vec_to_tril_matrix,
)
from ._subclassing import lazy_property as lazy_property, validate_sample as validate_sample
from ._util import (
    clamp_probs as clamp_probs,
    is_prng_key as is_prng_key,
    log1mexp as log1mexp,
    logdiffexp as logdiffexp,
    logits_to_probs as logits_to_probs,
    multigammaln as multigammaln,
    periodic_repeat as periodic_repeat,
    probs_to_logits as probs_to_logits,
    promote_shapes as promote_shapes,
    promote_value as promote_value,
    safe_normalize as safe_normalize,
    sum_rightmost as sum_rightmost,
)

# isort: split
from ._indexing import vindex as vindex
