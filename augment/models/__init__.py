"""The one registry of generators: used for CLI choices, for building and for loading."""

from __future__ import annotations

from augment.config import ConfigError
from augment.models.base import ConditionalGenerator
from augment.models.cgan import CGAN
from augment.models.cvae import CVAE
from augment.models.cvaegan import CVAEGAN

REGISTRY: dict[str, type[ConditionalGenerator]] = {cls.name: cls for cls in (CVAE, CGAN, CVAEGAN)}


def model_class(name: str) -> type[ConditionalGenerator]:
    """The registered class for ``name``; a ConfigError listing the valid names otherwise."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; choose one of: {', '.join(REGISTRY)}") from None


def build_model(name: str, config, image_shape, num_classes: int) -> ConditionalGenerator:
    """A freshly initialised generator of kind ``name`` for images of ``image_shape`` (C, H, W)."""
    return model_class(name)(config, tuple(image_shape), num_classes)


__all__ = ["REGISTRY", "ConditionalGenerator", "build_model", "model_class", "CVAE", "CGAN", "CVAEGAN"]
