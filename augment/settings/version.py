"""The library's version, written once: ``augment.__version__``, the packaging metadata (setup.cfg)
and every checkpoint and MLflow model the library writes read it here."""

__version__ = "0.1.0"
