"""The registry of laws: an immutable tuple, in a fixed order."""

from __future__ import annotations

from ._law import HandlerLaw, Law
from ._laws_composition import COMPOSITION_LAWS
from ._laws_core import CORE_LAWS
from ._laws_data import DATA_LAWS
from ._laws_density import DENSITY_LAWS
from ._laws_enum import ENUM_LAWS
from ._laws_generic import GENERIC_LAWS
from ._laws_more import MORE_LAWS
from ._laws_reparam import REPARAM_LAWS
from ._laws_seed import SEED_LAWS
from ._laws_svi import SVI_LAWS
from ._laws_transforms import TRANSFORM_LAWS

#: Laws about generated models and the standard handlers.
MODEL_LAWS: tuple[Law, ...] = (
    SEED_LAWS
    + TRANSFORM_LAWS
    + COMPOSITION_LAWS
    + DATA_LAWS
    + DENSITY_LAWS
    + MORE_LAWS
    + SVI_LAWS
    + CORE_LAWS
    + ENUM_LAWS
    + REPARAM_LAWS
)
#: Laws that any handler should obey (bind them to a handler to check them).
HANDLER_LAWS: tuple[HandlerLaw, ...] = GENERIC_LAWS
#: Every law.
LAWS: tuple[Law | HandlerLaw, ...] = MODEL_LAWS + HANDLER_LAWS

_names = [law.name for law in LAWS]
if len(set(_names)) != len(_names):
    raise RuntimeError(f"Law names must be unique: {_names}")


def get_law(name: str) -> Law | HandlerLaw:
    """The law called ``name``."""
    for law in LAWS:
        if law.name == name:
            return law
    raise KeyError(f"No law named {name!r}; laws are {_names}.")
