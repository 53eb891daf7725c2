"""Wing 8: MLflow: runs, their params, metrics and images as the stages see them (runs), the
logging process that writes them beside the stage's work (worker, session), the tracking store
and its client (store) and the MLflow model flavour with the registry (mlflow_model).

May import: training, sampling, data, params, models, core, settings."""
