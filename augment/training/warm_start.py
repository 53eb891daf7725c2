"""The CVAE-GAN's warm start: encoder and decoder from the trained CVAE (``init_from: cvae``).

In the method as presented, the combined model was trained starting from a pre-trained VAE: its
encoder Q and decoder f_d already reconstruct, so the three-network scheme starts from a code
that carries the image's content, and the discriminator's first job is to sharpen the images
rather than to teach the decoder what a digit is. Only Q and f_d are copied; the discriminator
starts from scratch (the CVAE has none). The CVAE must have been trained on images of the same
shape and classes with the same network shape (``latent_dim``, ``width``, ``upsample``, ``stem``):
anything else is refused with one line naming the file and what differs.

With a label budget (the M2 scheme, augment/models/cvae.py): when both models were built with
``use_unlabelled`` (the CVAE trained with the pool, the CVAE-GAN to be), the classifier q(y | x)
is copied too, so the CVAE-GAN starts from a q that already knows the labelled images. When only
one of them has q, encoder and decoder are copied alone: a CVAE-GAN with a pool then starts its q
from scratch (its own initialisation), and one without a pool has no q to fill.
"""

from __future__ import annotations

from typing import cast

from torch import nn

from augment.models import ConditionalGenerator
from augment.settings.paths import generator_checkpoint
from augment.training.checkpoint import CheckpointError, check_classes, load_generator

# Config fields that fix the encoder's and decoder's shapes: they must agree between the two.
SHAPE_FIELDS = ("latent_dim", "width", "upsample", "stem")


def warm_start(model: ConditionalGenerator, params, classes: list[str]) -> str:
    """Copy the encoder and decoder of the checkpoint ``init_from`` names into ``model``.

    Returns the start used: ``"none"`` (nothing copied: the model has no ``init_from`` or it is
    ``none``) or the source model's name. Reads ``paths.generators/<init_from>.pt``.
    """
    source_name = getattr(model.config, "init_from", "none")
    if source_name == "none":
        return "none"
    path = generator_checkpoint(params, source_name)
    key = f"generators.{model.name}.init_from: {source_name}"
    if not path.is_file():
        raise CheckpointError(
            f"{key} needs the trained {source_name} at {path}; train it first "
            f"(augment train {source_name}, or dvc repro)"
        )
    source, payload = load_generator(path, expected_model=source_name)
    check_classes(f"{key}: {path}", payload["classes"], classes)
    copy_encoder_decoder(model, source, f"{key}: {path}")
    return source_name


def copy_encoder_decoder(model: ConditionalGenerator, source: ConditionalGenerator, where: str) -> None:
    """Load ``source``'s encoder and decoder into ``model`` (and its moving average), and its
    classifier q(y | x) when both have one (module docstring), after checking that image shape,
    class count and network shape agree (``where`` starts the error)."""
    if tuple(source.image_shape) != tuple(model.image_shape) or source.num_classes != model.num_classes:
        raise CheckpointError(
            f"{where} was trained on images of shape {tuple(source.image_shape)} with "
            f"{source.num_classes} classes, this {model.name} has {tuple(model.image_shape)} "
            f"and {model.num_classes}"
        )
    for field in SHAPE_FIELDS:
        mine, theirs = getattr(model.config, field), getattr(source.config, field)
        if mine != theirs:
            raise CheckpointError(
                f"{where} has {field}={theirs!r}, generators.{model.name}.{field} "
                f"is {mine!r}; they must agree to copy the encoder and decoder"
            )
    # both have an encoder and a decoder (checked above); nn.Module's attribute typing cannot say so
    encoder, decoder = cast(nn.Module, model.encoder), cast(nn.Module, model.decoder)
    source_decoder = cast(nn.Module, source.decoder)
    encoder.load_state_dict(cast(nn.Module, source.encoder).state_dict())
    decoder.load_state_dict(source_decoder.state_dict())
    if model.ema_decoder is not None:
        model.ema_decoder.load_state_dict(source_decoder.state_dict())
    if model.has_classifier and source.has_classifier:  # both trained with a pool: q too
        cast(nn.Module, model.classifier).load_state_dict(cast(nn.Module, source.classifier).state_dict())
