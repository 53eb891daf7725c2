"""The one typed view of ``params.yaml``: :class:`Params`, its sections as nested dataclasses.

Every hyperparameter and every path lives in ``params.yaml``; the CLI, the DVC stages and the
library read it through :func:`augment.params.file.load_params`, which returns these nested
dataclasses. ``dvc.yaml`` templates its paths from the same ``paths`` section, so no path is
written twice.

This module is the whole file's view: the sections whose contents depend on what is installed —
``generators`` (the plugins' sections, the methods), ``sample`` (every registered generator's
sampling settings, ``sample.generators``) and ``classifier`` (the default sources) —
and :class:`Params` itself. Every other section, the field ranges and :class:`ConfigError` live
one wing lower, in augment/settings/sections.py, so that the models can read their own sections
without importing this one; they are re-exported here, so ``augment.params.config`` names every
section. Reading and checking the file (unknown keys with the nearest valid key suggested, wrong
types, out-of-range values, all raising :class:`ConfigError` that names the dotted key) is
augment/params/file.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from augment.settings.sections import (
    _BATCH,
    _NON_NEGATIVE,
    _POSITIVE,
    _POSITIVE_INT,
    _SEED,
    _SEEDS,
    _WIDTH,
    CONDITIONINGS,
    DATASETS,
    DEFAULT_PARAMS_FILE,
    DEVICES,
    GENERATOR_NAMES,
    LR_SCHEDULES,
    MAX_BATCH,
    MAX_CPU_THREADS,
    MAX_GRID,
    MAX_IMAGE_SIDE,
    MAX_IMAGES,
    MAX_LATENT_DIM,
    MAX_SEED,
    MAX_WIDTH,
    MODEL_NAMES,
    PRECISIONS,
    RANGE,
    SECTIONS,
    SOLVERS,
    SYNTHETIC_MODES,
    UNKNOWN_SECTION,
    UNLABELLED_MODES,
    UPSAMPLINGS,
    WARM_STARTS,
    AccelerationConfig,
    AugmentationConfig,
    CFMConfig,
    CFMSampling,
    CGANConfig,
    ConfigError,
    CVAEConfig,
    CVAEGANConfig,
    DataConfig,
    EvaluationConfig,
    FilterConfig,
    ImbalanceConfig,
    JudgeConfig,
    NoSampling,
    PathsConfig,
    PseudoConfig,
    StyledConfig,
    TrackingConfig,
    _int_in,
    _one_of,
    one_line,
    ranged,
)

__all__ = [  # the sections of augment/settings/sections.py are re-exported: one module names them all
    "DATASETS",
    "MODEL_NAMES",
    "GENERATOR_NAMES",
    "DEVICES",
    "CONDITIONINGS",
    "UPSAMPLINGS",
    "WARM_STARTS",
    "LR_SCHEDULES",
    "SYNTHETIC_MODES",
    "UNLABELLED_MODES",
    "PRECISIONS",
    "DEFAULT_PARAMS_FILE",
    "ConfigError",
    "one_line",
    "MAX_SEED",
    "MAX_CPU_THREADS",
    "MAX_GRID",
    "MAX_IMAGES",
    "MAX_BATCH",
    "MAX_IMAGE_SIDE",
    "MAX_LATENT_DIM",
    "MAX_WIDTH",
    "RANGE",
    "SECTIONS",
    "UNKNOWN_SECTION",
    "ranged",
    "ImbalanceConfig",
    "DataConfig",
    "CVAEConfig",
    "SOLVERS",
    "CFMConfig",
    "CFMSampling",
    "NoSampling",
    "CGANConfig",
    "CVAEGANConfig",
    "FilterConfig",
    "PseudoConfig",
    "StyledConfig",
    "GeneratorSampling",
    "SampleConfig",
    "AugmentationConfig",
    "JudgeConfig",
    "EvaluationConfig",
    "AccelerationConfig",
    "PathsConfig",
    "TrackingConfig",
    "GeneratorsConfig",
    "ClassifierConfig",
    "Params",
    "flatten",
]


def _plugin_sections(names: Collection[str] | None = None) -> dict[str, type]:
    """The config dataclass of each installed generator plugin, by name (augment/models/registry.py);
    every name asked for is a plugin's (the built-ins' sections are fields): none asked, none
    looked up."""
    if names is not None and not names:
        return {}
    from augment.models.registry import (
        plugin_configs,  # here: the models import torch, which the parser of `augment --help` must not
    )

    return plugin_configs()


def _unknown_generator(name: str) -> str:
    """Why ``generators.<name>`` is no section: no installed generator has the name."""
    from augment.models.registry import REGISTRY

    return str(REGISTRY.unknown(name))


def _default_methods() -> dict[str, str]:
    """The default of ``generators.methods``: every built-in, each with the file its training
    starts from (the CVAE-GAN from the trained CVAE, init_from: cvae; the others the splits)."""
    paths = PathsConfig()
    return {"cvae": paths.splits, "cgan": paths.splits, "cvaegan": f"{paths.generators}/cvae.pt", "cfm": paths.splits}


@dataclass
class GeneratorsConfig:
    # The methods this run compares (augment/params/methods.py): name -> the file its training reads
    # besides the real split, which dvc.yaml's train_generator@<name> depends on: paths.splits,
    # or paths.generators/<listed method>.pt for a warm start (the CVAE-GAN's init_from: cvae).
    # Every stage, the sources and the report read this key; an installed plugin's name may be
    # listed (docs/plugins.md).
    methods: dict[str, str] = field(default_factory=_default_methods)
    cvae: CVAEConfig = field(default_factory=CVAEConfig)
    cgan: CGANConfig = field(default_factory=CGANConfig)
    cvaegan: CVAEGANConfig = field(default_factory=CVAEGANConfig)
    cfm: CFMConfig = field(default_factory=CFMConfig)
    # generators.<name> of each installed plugin, by name: written in params.yaml (and --set, and
    # MLflow's params) as generators.<name>, like the built-ins' sections, never as "plugins"
    plugins: dict[str, Any] = field(
        default_factory=dict, metadata={SECTIONS: _plugin_sections, UNKNOWN_SECTION: _unknown_generator}
    )
    seed: int = ranged(0, _SEED)  # seeds weight initialisation, noise and shuffling of generator training
    # with a label budget (data.labelled), how generators learn from the unlabelled pool: native =
    # in their own way where they have one (takes_unlabelled), else from the pool's confident
    # pseudo-labels; pseudo = every one from the pseudo-labels; none = the labelled images alone
    unlabelled: str = ranged("native", _one_of(UNLABELLED_MODES))
    grid_every: int = ranged(5, _POSITIVE_INT)  # write a progress grid every this many epochs (and at the last)


def _sampling_sections(names: Collection[str] | None = None) -> dict[str, type]:
    """The sampling-settings dataclass of every registered generator, by name (the
    ``sample.generators.<name>`` sections; :class:`NoSampling` for one that has none); the
    plugins are looked up only when ``names`` has one that is not a built-in."""
    from augment.models.registry import (
        sampling_classes,  # here: the models import torch, which the parser of `augment --help` must not
    )

    return sampling_classes(names)


def _builtin_sampling() -> dict[str, Any]:
    """The default of ``sample.generators``: every built-in's sampling settings at their defaults
    (the classes are the models' ``sampling_class``; tests/test_config.py checks they agree)."""
    classes = {"cvae": NoSampling, "cgan": NoSampling, "cvaegan": NoSampling, "cfm": CFMSampling}
    return {name: classes[name]() for name in GENERATOR_NAMES}


@dataclass
class GeneratorSampling:
    """``sample.generators``: how each trained generator draws (and encodes), by name. Apart from
    ``generators.<name>`` so that dvc.yaml's train stage does not depend on it: changing one
    redraws (sample, restyle, evaluate) without retraining. A name without a section samples
    with its sampling class's defaults; dvc.yaml's stages need the section, ``{}`` for none."""

    # sample.generators.<name> of every registered generator (built-ins and plugins), written
    # beside each other as sample.generators.<name>, never as "sections"
    sections: dict[str, Any] = field(
        default_factory=_builtin_sampling, metadata={SECTIONS: _sampling_sections, UNKNOWN_SECTION: _unknown_generator}
    )


@dataclass
class SampleConfig:
    per_class: int = ranged(200, _int_in(1, MAX_IMAGES))  # synthetic images drawn per class for each method's dataset
    seed: int = ranged(0, _SEED)  # fixes every synthetic image by (seed, index)
    batch_size: int = ranged(256, _BATCH)  # images generated per forward pass
    filter: FilterConfig = field(default_factory=FilterConfig)  # the <method>-filtered sets
    styled: StyledConfig = field(default_factory=StyledConfig)  # the <method>-restyle / -transfer sets
    generators: GeneratorSampling = field(default_factory=GeneratorSampling)  # each generator's sampler settings


def _default_sources() -> list[str]:
    """The default of ``classifier.sources``: augment/params/sources.py DEFAULT_SOURCES."""
    from augment.params.sources import DEFAULT_SOURCES  # here, not at the top: augment.params.sources reads this module

    return list(DEFAULT_SOURCES)


@dataclass
class ClassifierConfig:
    # the training sources a run compares (augment/params/sources.py; dvc.yaml's train_classifier
    # foreach reads this list): real and classic, the baselines of every delta, are required
    sources: list[str] = field(default_factory=_default_sources)
    synthetic_ratio: float = ranged(1.0, _NON_NEGATIVE)  # synthetic images per real training image (class-balanced)
    # one trained classifier per seed
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4], metadata={RANGE: _SEEDS})
    steps: int = ranged(300, _POSITIVE_INT)  # optimizer steps, the same for every source (fairness)
    batch_size: int = ranged(64, _BATCH)
    lr: float = ranged(2e-3, _POSITIVE)
    width: int = ranged(32, _WIDTH)  # channels of the classifier's first conv layer
    lr_schedule: str = ranged("cosine", _one_of(LR_SCHEDULES))  # constant, or cosine: lr decays to 0 over `steps`
    # ratio: synthetic_ratio per real image, class-balanced;
    # top_up: each class gets synthetic images until it has as many as the largest real class
    synthetic_mode: str = ranged("ratio", _one_of(SYNTHETIC_MODES))
    # the teacher of the pseudo sources and of the pseudo-labelled pool (a label budget only)
    pseudo: PseudoConfig = field(default_factory=PseudoConfig)


@dataclass
class Params:
    data: DataConfig = field(default_factory=DataConfig)
    generators: GeneratorsConfig = field(default_factory=GeneratorsConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    augmentation: AugmentationConfig = field(default_factory=AugmentationConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    acceleration: AccelerationConfig = field(default_factory=AccelerationConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    device: str = ranged("auto", _one_of(DEVICES))  # auto: CUDA when present, else CPU
    # torch CPU threads per process (0: torch's default, one per core)
    cpu_threads: int = ranged(1, (lambda v: 0 <= v <= MAX_CPU_THREADS, f"an integer in [0, {MAX_CPU_THREADS}]"))

    def generator(self, name: str):
        """The config section of one registered generator: a built-in's, or a plugin's
        (``generators.<name>``; its config class's defaults when params.yaml has no section)."""
        if name in GENERATOR_NAMES:
            return getattr(self.generators, name)
        if name not in self.generators.plugins:
            from augment.models.registry import (
                model_class,  # here: the models import torch, which the parser of `augment --help` must not
            )

            self.generators.plugins[name] = model_class(name).config_class()
        return self.generators.plugins[name]

    def sampling(self, name: str):
        """The sampling settings of one registered generator (``sample.generators.<name>``; its
        sampling class's defaults when params.yaml has no section), to set on the loaded model."""
        sections = self.sample.generators.sections
        if name not in sections:
            from augment.models.registry import (
                model_class,  # here: the models import torch, which the parser of `augment --help` must not
            )

            sections[name] = model_class(name).sampling_class()
        return sections[name]

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dicts, the plugins' sections beside the built-ins' (generators.<name>) and
        the sampling sections as sample.generators.<name>."""
        tree = dataclasses.asdict(self)
        tree["generators"].update(tree["generators"].pop("plugins"))
        tree["sample"]["generators"] = tree["sample"]["generators"].pop("sections")
        return tree


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts -> dotted keys (``{"data": {"seed": 0}}`` -> ``{"data.seed": 0}``): the names
    of ``--set``, of the validation errors and of the MLflow params."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            flat.update(flatten(value, dotted))
        else:
            flat[dotted] = value
    return flat
