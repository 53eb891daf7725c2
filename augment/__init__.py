"""augment: class-conditional generators (CVAE, CGAN, CVAE-GAN, flow matching) as data augmentation.

The library imports without DVC or MLflow running. ``SyntheticDataset`` is imported lazily, on
first access, so that ``import augment`` stays cheap (no torch). The library's wings and what each
may import: docs/architecture.md.
"""

from typing import TYPE_CHECKING

from augment.settings.version import __version__

if TYPE_CHECKING:  # type checkers see the class; at run time it is imported on first access
    from augment.synthesis.synthetic import SyntheticDataset

__all__ = ["SyntheticDataset", "__version__"]


def __getattr__(name: str):
    if name == "SyntheticDataset":
        from augment.synthesis.synthetic import SyntheticDataset

        return SyntheticDataset
    raise AttributeError(f"module 'augment' has no attribute {name!r}")
