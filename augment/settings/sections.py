"""The sections of ``params.yaml`` that depend on nothing installed: their typed dataclasses, each
field's allowed range (:func:`ranged`), :class:`ConfigError` and the one-line rule.

The bottom of the library (docs/architecture.md): torch-free and importing nothing of the
project, so that every wing — the models included, which read their own sections here — may
import it. The whole file's view, :class:`augment.params.config.Params`, and the sections whose
contents depend on the installed generators and sources (``generators``, ``sample``,
``classifier``) are one wing up, in augment/params/config.py, which re-exports everything
defined here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DATASETS = ("digits", "mnist", "fashion-mnist", "kmnist", "emnist", "imagefolder")
# MODEL_NAMES: the three of the method this project implements (latent-code models).
# GENERATOR_NAMES: every built-in generator, flow matching included: the default of the methods a
# run compares (generators.methods; dvc.yaml's foreach, the sources, the report read that key),
# and what the library trains and samples (`augment train`, SyntheticDataset); installed plugins
# add theirs (augment/models/registry.py).
MODEL_NAMES = ("cvae", "cgan", "cvaegan")
GENERATOR_NAMES = (*MODEL_NAMES, "cfm")
DEVICES = ("auto", "cpu", "cuda")
CONDITIONINGS = ("planes", "projection")  # how a discriminator sees the label (models/layers.py)
UPSAMPLINGS = ("transposed", "nearest")  # how a decoder doubles a side (models/layers.py)
# a GAN discriminator's differentiable input augmentation, in the order applied (models/diffaugment.py)
DIFFAUGMENT_KINDS = ("colour", "translation", "cutout")
WARM_STARTS = ("none", "cvae")  # what the CVAE-GAN's encoder and decoder start from
LR_SCHEDULES = ("constant", "cosine")  # the classifiers' learning rate over their steps
SYNTHETIC_MODES = ("ratio", "top_up")  # how many synthetic images of each class a classifier gets
# how generators learn from a label budget's unlabelled pool (generators.unlabelled)
UNLABELLED_MODES = ("native", "pseudo", "none")
PRECISIONS = ("fp32", "tf32", "bf16")  # the training forward passes' number format (augment/core/acceleration.py)

DEFAULT_PARAMS_FILE = "params.yaml"


class ConfigError(ValueError):
    """A bad parameter: the message names the dotted key and what is allowed."""


def one_line(message: Any) -> str:
    """``message`` (an exception or text) as one line: runs of whitespace, newlines included,
    become one space. Every expected error reaches the user through this."""
    return " ".join(str(message).split())


# --------------------------------------------------------------------------------------------
# Ranges: (predicate, what is allowed), attached to a field with ranged(); checked after the
# types (_validate), so each field's allowed values stand next to it.
# --------------------------------------------------------------------------------------------

_POSITIVE_INT = (lambda v: v >= 1, "an integer >= 1")
_POSITIVE = (lambda v: v > 0, "a number > 0")
_NON_NEGATIVE = (lambda v: v >= 0, "a number >= 0")
_UNIT_OPEN = (lambda v: 0 <= v < 1, "a number in [0, 1)")
_BETA = (lambda v: 0 <= v < 1, "a number in [0, 1)")
MAX_SEED = 2**32 - 1  # numpy's SeedSequence, torch.manual_seed and the batch-order seeds all take it
_SEED = (lambda v: 0 <= v <= MAX_SEED, f"an integer in [0, {MAX_SEED}]")
MAX_CPU_THREADS = 1024

# Size limits: the largest value each kind of size may take, in params.yaml and in the commands'
# and the library's arguments (augment sample -n, SyntheticDataset). Far above any run this
# project makes, they stop an absurd value (latent_dim: 1000000000) with one line naming its key
# before a network or a tensor is allocated: beyond them an allocation fails with a traceback, or
# exhausts the machine's memory first. docs/library.md lists them.
MAX_IMAGE_SIDE = 1024  # data.image_size: an ImageFolder's images are resized to this side
MAX_LATENT_DIM = 65536  # generators.<name>.latent_dim
MAX_WIDTH = 4096  # the channels of a network's first layer (doubled below it)
MAX_BATCH = 65536  # every batch_size
MAX_IMAGES = 10_000_000  # images of one synthetic set: sample -n, sample.per_class x classes
MAX_GRID = 1000  # rows, steps and pairs of a stylisation figure (augment stylize)


def _int_in(low: int, high: int) -> tuple[Any, str]:
    return (lambda v: low <= v <= high, f"an integer in [{low}, {high}]")


_BATCH = _int_in(1, MAX_BATCH)
_WIDTH = _int_in(1, MAX_WIDTH)
_LATENT = _int_in(1, MAX_LATENT_DIM)

_STEPS_PER_EPOCH = (lambda v: v >= 0, "an integer >= 0 (0: one pass over the data)")
_EMA = (lambda v: 0 <= v < 1, "a number in [0, 1) (0: no moving average)")
_PROBABILITY = (lambda v: 0 <= v <= 1, "a probability in [0, 1]")
_SEEDS = (
    lambda v: len(v) >= 1 and all(0 <= s <= MAX_SEED for s in v),
    f"a non-empty list of integers in [0, {MAX_SEED}]",
)
_CLASS_INDICES = (lambda v: all(c >= 0 for c in v) and len(set(v)) == len(v), "a list of distinct class indices >= 0")


def _one_of(choices: tuple[str, ...]) -> tuple[Any, str]:
    return (lambda v: v in choices, "one of: " + ", ".join(choices))


def _subset_of(choices: tuple[str, ...]) -> tuple[Any, str]:
    return (
        lambda v: all(c in choices for c in v) and len(set(v)) == len(v),
        "a list of distinct names from: " + ", ".join(choices) + " ([] = none)",
    )


RANGE = "range"  # the metadata key of a field's (predicate, what is allowed)
# the metadata key of a field that holds extra named sections (name -> dataclass instance): a
# callable giving the dataclass of each allowed name, given the names asked for (None: every
# name), so that it may look up no more than it needs; the names sit in the field's parent
SECTIONS = "sections"
# beside SECTIONS: a callable giving the one-line error for a name no section has (the nearest name)
UNKNOWN_SECTION = "unknown_section"


def ranged(default: Any, rule: tuple[Any, str]) -> Any:
    """A dataclass field with its allowed range: ``rule`` is (predicate, what is allowed)."""
    return field(default=default, metadata={RANGE: rule})


# --------------------------------------------------------------------------------------------
# Sections. Each field carries a comment and, where it has one, its allowed range (ranged).
# --------------------------------------------------------------------------------------------


@dataclass
class ImbalanceConfig:
    # class indices to thin; empty = balanced data
    classes: list[int] = field(default_factory=list, metadata={RANGE: _CLASS_INDICES})
    # share of each thinned class's training images kept (at least one image)
    keep: float = ranged(0.05, (lambda v: 0 < v <= 1, "a number in (0, 1]"))


@dataclass
class DataConfig:
    dataset: str = ranged("digits", _one_of(DATASETS))  # one of DATASETS; digits ships inside scikit-learn (offline)
    root: str = "data/raw"  # folder of torchvision datasets / the user's ImageFolder
    download: bool = False  # let torchvision download the MNIST family into `root`
    emnist_split: str = "digits"  # EMNIST's split (digits, letters, balanced, ...)
    # side of ImageFolder images after resizing (other datasets: native)
    image_size: int = ranged(28, _int_in(4, MAX_IMAGE_SIDE))
    channels: int = ranged(1, (lambda v: v in (1, 3), "1 or 3"))  # ImageFolder only: 1 (grey, 'L') or 3 (RGB)
    train_size: float = ranged(1.0, _POSITIVE)  # <= 1.0: fraction of the training split; > 1: a count of images
    val_fraction: float = ranged(0.1, _UNIT_OPEN)  # share of the training pool held out for model selection
    # share held out for the test split where there is no official one
    test_fraction: float = ranged(0.2, (lambda v: 0 < v < 1, "a number in (0, 1)"))
    seed: int = ranged(0, _SEED)  # seeds every split and subsample
    imbalance: ImbalanceConfig = field(default_factory=ImbalanceConfig)  # rare classes (augment/data/splitting.py)
    # label budget: 0 = every training image keeps its label; N = only N (class-balanced, seeded)
    # do, the rest of the training split becomes the unlabelled pool, and the validation split
    # keeps N labelled images too (augment/data/splitting.py)
    labelled: int = ranged(0, (lambda v: v >= 0, "an integer >= 0 (0: every training image labelled)"))
    # a folder of unlabelled images (searched recursively) that joins the pool; "" = none
    unlabelled_root: str = ""
    # ImageFolder only: a folder of held-out test images in the same class sub-folders (the
    # dataset's official test split, as the MNIST family has one); "" = test_fraction of root
    test_root: str = ""


@dataclass
class CVAEConfig:
    epochs: int = ranged(20, _POSITIVE_INT)  # x steps_per_epoch optimizer steps
    batch_size: int = ranged(64, _BATCH)  # images per optimizer step
    latent_dim: int = ranged(16, _LATENT)  # size of z
    width: int = ranged(32, _WIDTH)  # channels of the first conv layer; doubles per downsampling
    lr: float = ranged(1e-3, _POSITIVE)  # Adam learning rate
    beta1: float = ranged(0.9, _BETA)  # Adam beta1
    beta2: float = ranged(0.999, _BETA)  # Adam beta2
    # weight of KL[Q(z|x,y) || P(z)] against the reconstruction; < 1 lets z carry the writer's
    # style (stroke thickness above all), which the CVAE-GAN started from it keeps (docs/profile-digits.md)
    kl_weight: float = ranged(0.1, _NON_NEGATIVE)
    # optimizer steps per epoch, whatever the data size; 0 = one pass over the data (see training.py)
    steps_per_epoch: int = ranged(100, _STEPS_PER_EPOCH)
    # decoder: transposed (4x4 stride-2) or nearest (x2 + 3x3 conv)
    upsample: str = ranged("transposed", _one_of(UPSAMPLINGS))
    stem: bool = True  # encoder: a stride-1 3x3 conv before the halvings (models/layers.py)
    ema: float = ranged(0.0, _EMA)  # decay of an exponential moving average of the decoder for sampling; 0 = off
    # alpha of the M2 scheme, read only when trained with a label budget's pool (models/cvae.py):
    # weight of -ln q(y|x) on the labelled images against the per-image bound, a sum over the
    # image's P pixels, so 0.1 x P (8x8 digits: 6.4); not tuned yet
    classify_weight: float = ranged(6.4, _NON_NEGATIVE)


SOLVERS = ("euler", "midpoint", "heun")


@dataclass
class CFMConfig:
    """Class-conditional flow matching (augment/models/cfm.py): a velocity U-Net, no latent code.
    Its sampler's settings are :class:`CFMSampling` (``sample.generators.cfm``): they change what
    is drawn, not the training, so changing one redraws without retraining."""

    epochs: int = ranged(10, _POSITIVE_INT)  # x steps_per_epoch optimizer steps
    batch_size: int = ranged(64, _BATCH)
    width: int = ranged(32, _WIDTH)  # channels of the U-Net's first level; doubled below
    lr: float = ranged(5e-4, _POSITIVE)  # Adam learning rate
    beta1: float = ranged(0.9, _BETA)
    beta2: float = ranged(0.999, _BETA)
    steps_per_epoch: int = ranged(100, _STEPS_PER_EPOCH)  # 0 = one pass over the data
    # moving average of the velocity network for sampling; 0 = off. 0.99: at 1,000 steps on the
    # digits 0.999 still leans on the zero-velocity start (noisy samples), 0.99 does not
    ema: float = ranged(0.99, _EMA)
    # classifier-free guidance: the share of training labels replaced by "no label", so that the
    # same network is also the unlabelled v(x, t, none) a guided sampler needs (CFMSampling.guidance)
    label_dropout: float = ranged(0.1, _PROBABILITY)


# --------------------------------------------------------------------------------------------
# Sampling settings (sample.generators.<name>): how a trained generator draws and encodes. Read
# by the stages that draw (sample, restyle, evaluate) and set on the loaded model
# (ConditionalGenerator.sampling); never part of the training or of its checkpoint.
# --------------------------------------------------------------------------------------------


@dataclass
class NoSampling:
    """The sampling settings of a generator that has none (one decoder pass): ``{}`` in params.yaml."""


@dataclass
class CFMSampling:
    """How cfm integrates its flow (augment/models/cfm.py): to draw and to encode."""

    # the weight w of v = v(x, t, y) + w * (v(x, t, y) - v(x, t, none)) when sampling (0: conditional).
    # 0 by default: w = 1 cost CAS and recall on MNIST and the digits (benchmarks/sampler_sweep.py,
    # docs/profile-28x28.md)
    guidance: float = ranged(0.0, _NON_NEGATIVE)
    solver: str = ranged("midpoint", _one_of(SOLVERS))  # the fixed-step ODE solver of sampling
    sample_steps: int = ranged(4, _POSITIVE_INT)  # its steps from t = 0 to 1 (4 midpoint: as good as 8 measured)
    # encoding (stylisation, restyle/transfer): sigma of the code around a real image's inverted
    # noise x_0; restyle draws z = x_0 + sample.styled.noise * code_spread * eps. 0: a point
    code_spread: float = ranged(0.5, _NON_NEGATIVE)
    # the weight lambda of the image's own label in the field that encodes it: 1 = its own label's
    # (sampling) field, an exact round trip; 0 = the unlabelled field, which leaves more of the
    # writer's style in the noise and less of the class (28x28, 4,000 steps, validation split:
    # style r slant 0.44 at 1, 0.73 at 0; transfer accuracy 0.97 and 0.90: docs/style.md)
    encode_label: float = ranged(1.0, _PROBABILITY)


@dataclass
class CGANConfig:
    epochs: int = ranged(10, _POSITIVE_INT)  # x steps_per_epoch generator steps
    batch_size: int = ranged(64, _BATCH)
    latent_dim: int = ranged(16, _LATENT)
    width: int = ranged(32, _WIDTH)
    lr: float = ranged(5e-4, _POSITIVE)  # Adam learning rate, generator and discriminator
    beta1: float = ranged(0.5, _BETA)  # DCGAN's beta1
    beta2: float = ranged(0.999, _BETA)
    d_steps: int = ranged(1, _POSITIVE_INT)  # k: discriminator steps per generator step
    steps_per_epoch: int = ranged(100, _STEPS_PER_EPOCH)  # generator steps per epoch; 0 = one pass over the data
    # generator: transposed (4x4 stride-2) or nearest (x2 + 3x3 conv)
    upsample: str = ranged("transposed", _one_of(UPSAMPLINGS))
    stem: bool = True  # discriminator: a stride-1 3x3 conv before the halvings
    # discriminator: label planes at the input, or projection
    conditioning: str = ranged("projection", _one_of(CONDITIONINGS))
    spectral_norm: bool = True  # spectral normalisation of every discriminator layer
    # the discriminator's inputs, real and generated alike, through differentiable transforms
    # (DiffAugment, models/diffaugment.py): any of colour, translation, cutout; [] = off
    diffaugment: list[str] = field(default_factory=list, metadata={RANGE: _subset_of(DIFFAUGMENT_KINDS)})
    diffaugment_p: float = ranged(1.0, _PROBABILITY)  # strength: each kind's probability per image
    ema: float = ranged(0.99, _EMA)  # decay of an exponential moving average of G for sampling; 0 = off


@dataclass
class CVAEGANConfig:
    # x steps_per_epoch encoder/decoder steps (after the CVAE's, with init_from cvae)
    epochs: int = ranged(10, _POSITIVE_INT)
    batch_size: int = ranged(64, _BATCH)
    latent_dim: int = ranged(16, _LATENT)
    width: int = ranged(32, _WIDTH)
    lr: float = ranged(3e-4, _POSITIVE)  # Adam learning rate, all three networks
    beta1: float = ranged(0.5, _BETA)
    beta2: float = ranged(0.999, _BETA)
    d_steps: int = ranged(1, _POSITIVE_INT)  # k: discriminator steps per encoder/decoder step
    gamma: float = ranged(1.0, _NON_NEGATIVE)  # decoder: gamma * L_llike - L_GAN (content against style)
    # weight of L_prior in the encoder's loss (as the CVAE's it starts from)
    kl_weight: float = ranged(0.1, _NON_NEGATIVE)
    # l: which discriminator conv layer L_llike compares (-1: the last; 0: the first, the finest,
    # which keeps a source's stroke thickness on the 8x8 digits: docs/profile-digits.md)
    llike_layer: int = 0
    steps_per_epoch: int = ranged(100, _STEPS_PER_EPOCH)  # encoder/decoder steps per epoch; 0 = one pass over the data
    # decoder: transposed (4x4 stride-2) or nearest (x2 + 3x3 conv)
    upsample: str = ranged("transposed", _one_of(UPSAMPLINGS))
    stem: bool = True  # encoder and discriminator: a stride-1 3x3 conv before the halvings
    # discriminator: label planes at the input, or projection
    conditioning: str = ranged("projection", _one_of(CONDITIONINGS))
    spectral_norm: bool = True  # spectral normalisation of every discriminator layer
    # the discriminator's inputs, real and generated alike, through differentiable transforms
    # (DiffAugment, models/diffaugment.py; not the L_llike features): any of colour, translation, cutout; [] = off
    diffaugment: list[str] = field(default_factory=list, metadata={RANGE: _subset_of(DIFFAUGMENT_KINDS)})
    diffaugment_p: float = ranged(1.0, _PROBABILITY)  # strength: each kind's probability per image
    ema: float = ranged(0.99, _EMA)  # decay of an exponential moving average of the decoder for sampling; 0 = off
    # cvae: start encoder and decoder from the trained CVAE (the method's way); none
    init_from: str = ranged("cvae", _one_of(WARM_STARTS))
    # alpha of the M2 scheme, read only when trained with a label budget's pool (models/cvaegan.py):
    # weight of -ln q(y|x) on the labelled images against the per-image bound; the CVAE's 0.1 x
    # pixels (8x8 digits: 6.4), though L_llike's scale is D's features', not the pixels'; not tuned yet
    classify_weight: float = ranged(6.4, _NON_NEGATIVE)


@dataclass
class FilterConfig:
    threshold: float = ranged(0.5, _PROBABILITY)  # keep a synthetic image when P(intended label | image) >= this
    # per class, the threshold is at most the P(class | x) this share of its real validation
    # images reach (evaluation/classifiers/filtering.py); 0 = the fixed threshold for every class
    real_pass: float = ranged(0.9, _PROBABILITY)
    # candidates drawn per kept image of a class before it is filled with its best rejected ones
    max_draws: int = ranged(50, _POSITIVE_INT)
    seed: int = ranged(4321, _SEED)  # the filter network's weights and batch order (not a downstream seed)


@dataclass
class PseudoConfig:
    # self-training with a label budget (data.labelled; evaluation/classifiers/pseudo.py): a teacher
    # (the downstream classifier, classical augmentation, the labelled images) labels the pool
    threshold: float = ranged(0.95, _PROBABILITY)  # a pool image joins when the teacher's top P >= this
    seed: int = ranged(2468, _SEED)  # the teacher's weights and batch order (not a downstream seed)


@dataclass
class StyledConfig:
    # restyle / transfer sets (augment/sampling/restyle.py): z = mu + noise * sigma * eps from a real
    # image's posterior; 1 = a posterior sample, 0 = its mean (the deterministic redrawing)
    noise: float = ranged(1.0, _NON_NEGATIVE)
    # the methods whose restyle / transfer sets are made (dvc.yaml's restyle foreach): listed in
    # generators.methods and with an encoder
    methods: list[str] = field(default_factory=lambda: ["cvae", "cvaegan"])
    # pass both sets through the filter network of the <method>-filtered sets (sample.filter): a
    # redrawn image it does not read as its class is replaced by the next real image, redrawn
    filter: bool = False


@dataclass
class AugmentationConfig:
    """Classical augmentation of the ``classic`` and ``classic+<method>`` sources
    (evaluation/classifiers/classic.py): torchvision transforms.v2, drawn afresh for every image of every batch."""

    # rotation by an angle drawn from [-degrees, degrees]
    degrees: float = ranged(5.0, (lambda v: 0 <= v <= 180, "a number of degrees in [0, 180]"))
    # shift by up to this share of the width / height
    translate: float = ranged(0.05, (lambda v: 0 <= v <= 1, "a share of the side in [0, 1]"))
    scale_min: float = ranged(0.95, _POSITIVE)  # zoom drawn from [scale_min, scale_max]
    scale_max: float = ranged(1.05, _POSITIVE)
    erasing: float = ranged(0.0, _PROBABILITY)  # probability of blanking one random rectangle (RandomErasing)
    # the rectangle covers 2 % up to this share of the image
    erasing_max_area: float = ranged(0.1, (lambda v: 0.02 <= v <= 1, "a share of the image in [0.02, 1]"))
    hflip: float = ranged(0.0, _PROBABILITY)  # probability of a horizontal flip: 0 for digits (a mirrored 7 is no 7)
    vflip: float = ranged(0.0, _PROBABILITY)  # probability of a vertical flip (upside down): 0 for most photographs
    # colour jitter (torchvision's ColorJitter meanings), drawn per image, in this order:
    # brightness, contrast, saturation (factors in [max(0, 1 - v), 1 + v]), hue (shift in [-v, v]
    # of a turn); saturation and hue act on RGB images only
    brightness: float = ranged(0.0, _NON_NEGATIVE)
    contrast: float = ranged(0.0, _NON_NEGATIVE)
    saturation: float = ranged(0.0, _NON_NEGATIVE)
    hue: float = ranged(0.0, (lambda v: 0 <= v <= 0.5, "a share of a turn in [0, 0.5]"))
    # what the classic sweep (pipelines/classic_sweep.py) chose these values on: the data's
    # description and a digest of the values; "" = not swept (the defaults or a person's choice)
    swept: str = ""


@dataclass
class JudgeConfig:
    steps: int = ranged(800, _POSITIVE_INT)  # Adam steps on the real training split (best val accuracy is kept)
    batch_size: int = ranged(64, _BATCH)  # images per step
    lr: float = ranged(1e-3, _POSITIVE)  # Adam learning rate
    # channels of the first conv layer (features: see evaluation/classifiers/net.py)
    width: int = ranged(32, _WIDTH)
    seed: int = ranged(1234, _SEED)  # weight init and batch order; differs from the downstream classifier's seeds
    lr_schedule: str = ranged("constant", _one_of(LR_SCHEDULES))  # constant, or cosine: lr decays to 0 over `steps`


@dataclass
class EvaluationConfig:
    # at most this many synthetic and real test images per set metric
    max_images: int = ranged(1000, (lambda v: v >= 10, "an integer >= 10"))
    k: int = ranged(5, _POSITIVE_INT)  # neighbours of precision / recall / density / coverage
    kid_subsets: int = ranged(10, _POSITIVE_INT)  # KID: random subsets averaged (their std is kid_std)
    # KID: images per subset, capped at n // 2 so that subsets differ
    kid_subset_size: int = ranged(1000, (lambda v: v >= 2, "an integer >= 2"))
    seed: int = ranged(0, _SEED)  # which images are chosen, the KID subsets, the stylisation rows
    judge: JudgeConfig = field(default_factory=JudgeConfig)  # feature extractor of the metrics


@dataclass
class AccelerationConfig:
    """How the training loops run on the device (augment/core/acceleration.py). Training only:
    sampling and every measurement stay float32. Measured: docs/gpu.md."""

    # fp32 (IEEE); tf32: TF32 convs on CUDA; bf16: autocast of training
    precision: str = ranged("fp32", _one_of(PRECISIONS))
    channels_last: bool = False  # NHWC memory layout of the conv networks and their batches
    compile: bool = False  # torch.compile each trained network (its first steps compile)


@dataclass
class PathsConfig:
    splits: str = "data/splits"  # prepare: the real train/val/test tensors
    generators: str = "models/generators"  # train_generator: <name>.pt
    synthetic: str = "data/synthetic"  # sample: <name>.pt
    sources: str = "data/sources"  # prepare, sample, restyle: <source>.json, what each classifier trains on
    classifiers: str = "models/classifiers"  # train_classifier: <source>.json and weights
    reports: str = "reports"  # metrics, plots, figures


@dataclass
class TrackingConfig:
    enabled: bool = True  # log runs to MLflow (MLFLOW_TRACKING_URI overrides `uri`)
    uri: str = "sqlite:///mlflow.db"  # relative sqlite paths resolve against the project root
    experiment: str = "augment"
    register: bool = True  # register each trained generator as the MLflow model augment-<method>
