"""DVC stage entry points: each reads its params section through the shared config, calls the
library and writes its outputs. Paths come from params.yaml (``augment.paths``), never from here."""
