"""Which ``data.train_size`` values the data-size product queues, checked before anything runs.

``--per-class N,N,...`` asks for N real training images per class: times the number of classes K
of the prepared splits file, that is a ``data.train_size`` count (a value > 1 is a number of
images; see ``_train_count`` in augment/data/splits.py). ``--sizes N,N,...`` gives the ``data.train_size``
values as they are (a whole number > 1 a count, a value in (0, 1] a fraction of the training
split). A count larger than the training images there are would fail in its experiment's prepare
stage, minutes later; :func:`check_available` refuses it first when the prepared splits tell.

With a label budget in params.yaml (``data.labelled`` > 0) the sizes are label budgets: each
experiment sets ``data.labelled`` (:data:`LABELLED`) instead of ``data.train_size``, the rest of
the training split staying its unlabelled pool, so the axis is the number of labelled images.
The data-size and regime-map commands both follow :attr:`Prepared.size_param`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from augment.data.labeled import DataError, Splits
from augment.params.config import ConfigError, one_line
from augment.params.file import load_params
from augment.settings.paths import splits_file
from evaluation.data_size.points import DEFAULT_PARAMS, PARAM, DataSizeError
from evaluation.data_size.queue import size_text


def parse_per_class(text: str) -> list[int]:
    """``"20,50,200,800"`` -> [20, 50, 200, 800]: whole numbers > 0, sorted, duplicates dropped."""
    values = set()
    for part in text.split(","):
        try:
            value = int(part.strip())
        except ValueError:
            raise DataSizeError(
                f"--per-class: expected whole numbers > 0 separated by commas, got {part.strip()!r}"
            ) from None
        if value <= 0:
            raise DataSizeError(f"--per-class: expected whole numbers > 0, got {value}")
        values.add(value)
    return sorted(values)


def parse_sizes(text: str) -> list[float]:
    """``"200,500"`` -> [200.0, 500.0]: data.train_size values as given (a whole number > 1 is a count
    of images, a value in (0, 1] a fraction of the training split), sorted, duplicates dropped."""
    values = set()
    for part in text.split(","):
        try:
            value = float(part.strip())
        except ValueError:
            raise DataSizeError(f"--sizes: expected numbers separated by commas, got {part.strip()!r}") from None
        if not (0 < value <= 1 or (value > 1 and value.is_integer())):
            raise DataSizeError(
                f"--sizes: {part.strip()} is neither an image count (a whole number > 1) "
                "nor a fraction of the training split (0 < x <= 1)"
            )
        values.add(value)
    return sorted(values)


LABELLED = "data.labelled"  # the size param of a label budget's experiments


@dataclass
class Prepared:
    """What the prepared splits file says about the sizes one may ask for."""

    path: Path  # the splits file
    num_classes: int  # K
    available: int | None  # training images a count may ask for; None when unknown
    size_param: str = PARAM  # what a size sets: data.train_size, or data.labelled with a label budget


def prepared_splits(params_file: str | Path = DEFAULT_PARAMS, required: bool = True) -> Prepared | None:
    """K and the available training images, from the splits file that the prepare stage wrote
    (``paths.splits`` of ``params_file``). A missing file is a DataSizeError telling how to create
    it, or None when not ``required``.

    ``available`` is known only when the splits were prepared with ``data.train_size`` 1.0 and no
    ``data.imbalance``: then the training split holds every image a count may ask for."""
    try:
        params = load_params(params_file)
    except (ConfigError, OSError) as err:
        raise DataSizeError(f"{params_file}: {one_line(err)}") from None
    path = splits_file(params)
    if not path.is_file():
        if not required:
            return None
        raise DataSizeError(
            f"--per-class needs the number of classes from the prepared splits, and {path} does not "
            "exist: run `dvc repro` first, or pass --sizes N,N,... (total images)"
        )
    try:
        splits = Splits.load(path)
    except DataError as err:
        raise DataSizeError(one_line(err)) from None
    imbalance = getattr(getattr(params.data, "imbalance", None), "classes", None)
    if params.data.labelled:  # the sizes are label budgets, which must leave the pool an image
        available = len(splits.train) + len(splits.unlabelled) - 1 if params.data.train_size == 1.0 else None
        return Prepared(path=path, num_classes=splits.num_classes, available=available, size_param=LABELLED)
    whole = params.data.train_size == 1.0 and not imbalance
    return Prepared(path=path, num_classes=splits.num_classes, available=len(splits.train) if whole else None)


def check_available(sizes: Sequence[tuple[float, str]], prepared: Prepared | None) -> None:
    """A DataSizeError for counts larger than the training images there are (those experiments
    would fail in their prepare stage); nothing when the prepared splits do not tell."""
    if prepared is None or prepared.available is None:
        return
    too_many = [
        f"{size_text(size)}{f' ({note})' if note else ''}"
        for size, note in sizes
        if size > 1 and size > prepared.available
    ]
    if too_many:
        what = "labelled images than the" if prepared.size_param == LABELLED else "training images than the"
        raise DataSizeError(
            f"{prepared.size_param}={', '.join(too_many)}: more {what} {prepared.available} "
            f"the prepared training split allows ({prepared.path}, {PARAM} 1.0); drop or lower "
            f"{'that size' if len(too_many) == 1 else 'those sizes'}"
        )
    if prepared.size_param == LABELLED:
        fractions = [size_text(size) for size, _ in sizes if not (size > 1 and float(size).is_integer())]
        if fractions:
            raise DataSizeError(
                f"{LABELLED}={', '.join(fractions)}: with a label budget a size is a whole number of "
                "labelled images > 1 (--per-class N gives N x K)"
            )


def per_class_sizes(per_class: Sequence[int], classes: int) -> list[tuple[int, str]]:
    """Each images-per-class value as a data.train_size count (``per_class * classes``) and a note."""
    sizes = []
    for n in per_class:
        total = n * classes
        if total <= 1:  # data.train_size reads 1 as the fraction 1.0, the whole training split
            raise DataSizeError(
                f"--per-class {n} with {classes} class(es) asks for {total} image; {PARAM} needs a count > 1"
            )
        sizes.append((total, f"{n} per class x {classes} classes"))
    return sizes
