"""Wing 3 of evaluation: the classic sweep, the strongest simple classical augmentation for the
data at hand, chosen on the validation split: its axes, search, measurement, and the record in
params.yaml that the report reads.

May import: quality, classifiers, augment."""
