"""The pyfunc loader of MLflow models logged before the library had wings.

Their MLmodel files name ``augment.mlflow_model`` as the loader module; the flavour itself now
lives in augment/tracking/mlflow_model.py (whose name models logged since carry). This module
stays so that a ``models:/`` URI registered then still loads (``mlflow.pyfunc.load_model``,
``augment sample --model models:/...``).
"""

from augment.tracking.mlflow_model import _load_pyfunc

__all__ = ["_load_pyfunc"]
