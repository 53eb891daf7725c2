"""Wing 8: MLflow: runs, their params, metrics and images (runs), the tracking store and its
client (store) and the MLflow model flavour with the registry (mlflow_model).

May import: training, sampling, data, params, models, core, settings."""
