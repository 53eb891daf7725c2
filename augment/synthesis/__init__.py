"""Wing 9 (the top wing): synthetic data for users: SyntheticDataset (synthetic), synthetic set
files (synthetic_files) and loading a generator from a checkpoint or a models:/ URI
(model_loading).

May import: every wing below (tracking, training, sampling, data, params, models, core, settings)."""
