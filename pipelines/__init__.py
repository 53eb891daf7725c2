"""DVC stage entry points: each reads its params section through the shared config, calls the
library and writes its outputs. Paths come from params.yaml (``augment.settings.paths``), never from here.
data_size.py is the one command that is not a stage: it drives DVC experiments (docs/data_size.md)."""
