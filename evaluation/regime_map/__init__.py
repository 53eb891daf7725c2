"""Wing 6 of evaluation: the regime map: sizes x synthetic ratio x training length, its cells and
their intervals (cells) and its figure.

May import: data_size, report, classic_sweep, quality, classifiers, augment."""
