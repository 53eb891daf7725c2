"""The generators: the base class, the built-ins and the one registry (augment/models/registry.py),
plugins included, used for building and for loading by name.

Wing 3 of the library (docs/architecture.md): a model is its networks, its losses and its
``train_step``. May import: core, settings (a model reads its own params section there).
"""

from __future__ import annotations

from augment.models.base import UNLABELLED, ConditionalGenerator
from augment.models.cfm import CFM
from augment.models.cgan import CGAN
from augment.models.cvae import CVAE
from augment.models.cvaegan import CVAEGAN
from augment.models.registry import BUILTINS, ENTRY_POINT_GROUP, REGISTRY, PluginError, model_class

# The built-in models with an encoder Q(z | x, y): the only ones that reconstruct, stylise and
# have restyle / transfer sets.
ENCODER_MODELS: tuple[str, ...] = tuple(name for name, cls in BUILTINS.items() if cls.can_encode)


class NoEncoder(ValueError):
    """Something that needs an encoder (stylisation, the restyle and transfer sets) was asked of a
    model without one (the CGAN). A ValueError: the CLI and the stages print it on one line, exit 2."""

    def __init__(self, model_name: str, what: str) -> None:
        super().__init__(
            f"{model_name} has no encoder: {what} (only models with an encoder: {', '.join(ENCODER_MODELS)})"
        )
        self.model_name = model_name


def build_model(name: str, config, image_shape, num_classes: int, unlabelled: bool = False) -> ConditionalGenerator:
    """A freshly initialised generator of kind ``name`` for images of ``image_shape`` (C, H, W);
    ``unlabelled``: one that learns from unlabelled images too (its ``use_unlabelled``)."""
    model = model_class(name)(config, tuple(image_shape), num_classes)
    if unlabelled:
        model.use_unlabelled()
    return model


__all__ = [
    "REGISTRY",
    "BUILTINS",
    "ENTRY_POINT_GROUP",
    "PluginError",
    "ENCODER_MODELS",
    "NoEncoder",
    "ConditionalGenerator",
    "UNLABELLED",
    "build_model",
    "model_class",
    "CVAE",
    "CGAN",
    "CVAEGAN",
    "CFM",
]
