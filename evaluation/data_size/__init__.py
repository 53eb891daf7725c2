"""Wing 5 of evaluation: the data-size product: its sizes (sizes), its points (points), the
queued DVC experiments (queue), collecting them (collect) and the figure.

May import: report, classic_sweep, quality, classifiers, augment."""
