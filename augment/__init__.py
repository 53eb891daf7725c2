"""augment: class-conditional generators (CVAE, CGAN, CVAE-GAN) as data augmentation.

The library imports without DVC or MLflow running. ``SyntheticDataset`` is imported lazily, on
first access: an eager import here would be a cycle (augment.synthetic -> augment.checkpoint ->
``import augment`` for ``__version__``), and ``import augment`` stays cheap.
"""

__version__ = "0.1.0"

__all__ = ["SyntheticDataset", "__version__"]


def __getattr__(name: str):
    if name == "SyntheticDataset":
        from augment.synthetic import SyntheticDataset

        return SyntheticDataset
    raise AttributeError(f"module 'augment' has no attribute {name!r}")
