"""The one registry of generators: used for CLI choices, for building and for loading."""

from __future__ import annotations

from augment.config import ConfigError
from augment.models.base import ConditionalGenerator
from augment.models.cfm import CFM
from augment.models.cgan import CGAN
from augment.models.cvae import CVAE
from augment.models.cvaegan import CVAEGAN

REGISTRY: dict[str, type[ConditionalGenerator]] = {cls.name: cls for cls in (CVAE, CGAN, CVAEGAN, CFM)}

# The registered models with an encoder Q(z | x, y): the only ones that reconstruct, stylise and
# have restyle / transfer sets.
ENCODER_MODELS: tuple[str, ...] = tuple(name for name, cls in REGISTRY.items() if cls.can_encode)


class NoEncoder(ValueError):
    """Something that needs an encoder (stylisation, the restyle and transfer sets) was asked of a
    model without one (the CGAN). A ValueError: the CLI and the stages print it on one line, exit 2."""

    def __init__(self, model_name: str, what: str) -> None:
        super().__init__(
            f"{model_name} has no encoder: {what} (only models with an encoder: {', '.join(ENCODER_MODELS)})"
        )
        self.model_name = model_name


def model_class(name: str) -> type[ConditionalGenerator]:
    """The registered class for ``name``; a ConfigError listing the valid names otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; choose one of: {', '.join(REGISTRY)}") from None


def build_model(name: str, config, image_shape, num_classes: int) -> ConditionalGenerator:
    """A freshly initialised generator of kind ``name`` for images of ``image_shape`` (C, H, W)."""
    return model_class(name)(config, tuple(image_shape), num_classes)


__all__ = [
    "REGISTRY",
    "ENCODER_MODELS",
    "NoEncoder",
    "ConditionalGenerator",
    "build_model",
    "model_class",
    "CVAE",
    "CGAN",
    "CVAEGAN",
    "CFM",
]
