"""Wing 2: the runtime pieces every other wing uses: all-or-nothing writes (outputs), the one
pixel rounding rule (pixels), progress bars, inference mode and devices of modules (inference),
label lists (labels), torchrun ranks (distributed) and the training speed options (acceleration).

May import: settings."""
