"""Wing 2 of evaluation: what a synthetic set is worth before training on it: FID / KID / PRDC,
label fidelity and CAS (metrics, measures), the style statistics (style), the metric keys (keys)
and the statistics of seeds (stats: t-intervals, deltas, verdicts).

May import: classifiers, augment."""
