"""The methods a run compares: ``generators.methods`` in params.yaml.

One key says which generators a run trains, samples, evaluates and turns into sources, so that a
user's own generator (an installed plugin, docs/plugins.md) enters the whole pipeline by being
listed, with no edit to the project::

    generators:
      methods:                       # name -> the file its training reads besides the real split
        cvae: data/splits
        cgan: data/splits
        cvaegan: models/generators/cvae.pt   # its warm start (generators.cvaegan.init_from: cvae)

Why a mapping and not a list: dvc.yaml's ``foreach`` gives every item of one stage the same
dependencies, and DVC has neither conditional dependencies nor nested interpolation
(``${generators.start[${item}]}``). The value is the one dependency that differs between items:
``train_generator@<name>`` depends on ``${item}``, so the CVAE-GAN reruns when the CVAE it
starts from changes, and a method trained from the data alone depends on the splits twice
(which DVC accepts). ``sample.styled.methods`` lists the encoder models whose restyle and
transfer sets are made (dvc.yaml's ``restyle`` foreach).

Checked at load (:func:`check_methods`): every name an installed generator (else one line with
the nearest name and the installed plugins), styled methods listed and with an encoder. Checked
by ``train_generator@<name>`` (:func:`check_start`): the value is the file the training really
reads, so that DVC's graph has no hidden edge.
"""

from __future__ import annotations

import os

from augment.params.config import GENERATOR_NAMES, ConfigError, Params
from augment.settings.paths import generator_checkpoint, synthetic_file

__all__ = [
    "method_names",
    "styled_methods",
    "check_methods",
    "has_pool",
    "unlabelled_route",
    "expected_start",
    "check_start",
]

KEY = "generators.methods"
STYLED_KEY = "sample.styled.methods"


def method_names(params: Params) -> tuple[str, ...]:
    """The methods of this run, in the order params.yaml lists them (reports keep it)."""
    return tuple(params.generators.methods)


def styled_methods(params: Params) -> tuple[str, ...]:
    """The methods whose restyle and transfer sets this run makes."""
    return tuple(params.sample.styled.methods)


def check_methods(params: Params) -> None:
    """Raise ConfigError naming the key for a method list a run cannot use."""
    from augment.models.registry import REGISTRY  # here: the models import augment.params.config

    names = method_names(params)
    if not names:
        raise ConfigError(f"{KEY}: list at least one generator (built in: {', '.join(GENERATOR_NAMES)})")
    for name in names:
        if name not in REGISTRY:
            raise ConfigError(f"{KEY}: {REGISTRY.unknown(name)}")
        start = params.generators.methods[name]
        if not start.strip():
            raise ConfigError(f"{KEY}.{name}: the file its training reads (e.g. {params.paths.splits}), got ''")
        source = getattr(params.generator(name), "init_from", "none")
        if source != "none" and source not in names:
            raise ConfigError(
                f"{KEY}: {name} starts from the trained {source} (generators.{name}.init_from: {source}), "
                f"which the list lacks; add {source} or set generators.{name}.init_from: none"
            )
        if unlabelled_route(params, name) == "pseudo" and source == "none":
            check_start(params, name)  # a label budget's pseudo route: refused before any stage runs
    for name in styled_methods(params):
        if name not in names:
            raise ConfigError(f"{STYLED_KEY}: {name!r} is not in {KEY} ({', '.join(names)})")
        if not REGISTRY[name].can_encode:
            encoders = [n for n in names if REGISTRY[n].can_encode]
            raise ConfigError(
                f"{STYLED_KEY}: {name} has no encoder, so it has no restyle or transfer sets "
                f"(methods with one: {', '.join(encoders) or 'none'})"
            )
    if len(set(styled_methods(params))) != len(styled_methods(params)):
        raise ConfigError(f"{STYLED_KEY}: a method is listed twice: {params.sample.styled.methods}")


def has_pool(params: Params) -> bool:
    """Whether the run has an unlabelled pool: a label budget or a folder of unlabelled images."""
    return bool(params.data.labelled or params.data.unlabelled_root)


def unlabelled_route(params: Params, name: str) -> str:
    """How generator ``name`` learns from the unlabelled pool (``generators.unlabelled``):
    ``native`` (its own way: its class ``takes_unlabelled``), ``pseudo`` (the labelled images plus
    the pool's confident pseudo-labels, data/synthetic/pseudo.pt), or ``none`` (the labelled images
    alone; also whenever the run has no pool)."""
    from augment.models.registry import REGISTRY  # here: the models import augment.params.config

    mode = params.generators.unlabelled
    if not has_pool(params) or mode == "none":
        return "none"
    if mode == "native" and REGISTRY[name].takes_unlabelled:
        return "native"
    return "pseudo"


def expected_start(params: Params, name: str) -> str:
    """The file ``name``'s training reads besides the real split: its warm start's checkpoint
    when its config has ``init_from`` (the CVAE-GAN's), else the pseudo-labelled pool when it
    learns from its pseudo-labels (:func:`unlabelled_route`), else the splits folder."""
    source = getattr(params.generator(name), "init_from", "none")
    if source != "none":
        return str(generator_checkpoint(params, source))
    if unlabelled_route(params, name) == "pseudo":
        from augment.params.sources import PSEUDO  # here: augment.params.sources imports the models (torch)

        return str(synthetic_file(params, PSEUDO))
    return params.paths.splits


def check_start(params: Params, name: str) -> None:
    """Refuse a ``generators.methods`` entry that is not what the training reads: dvc.yaml's
    train_generator@<name> would then miss a dependency (a stale CVAE-GAN after the CVAE changed)
    or wait on a method it does not use."""
    listed = params.generators.methods[name]
    expected = expected_start(params, name)
    if os.path.normpath(listed) == os.path.normpath(expected):
        return
    source = getattr(params.generator(name), "init_from", "none")
    reason = (
        f"generators.{name}.init_from: {source} reads {expected}"
        if source != "none"
        else f"with a label budget it learns from the pool's pseudo-labels (generators.unlabelled: "
        f"{params.generators.unlabelled})"
        if expected != params.paths.splits
        else f"it starts from the data alone (generators.{name}.init_from: none)"
        if hasattr(params.generator(name), "init_from")
        else "it starts from the data alone"
    )
    raise ConfigError(f"{KEY}.{name}: {listed!r} is not the file its training reads ({reason}); set it to {expected}")
