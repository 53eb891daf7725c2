"""Wing 1 of evaluation: the classifiers: the network (net), its training with model selection on
validation (training), predictions (prediction), the mixtures of real and synthetic images each
source trains on (mixing), classical augmentation (classic), the judge and the filter.

May import: augment."""
