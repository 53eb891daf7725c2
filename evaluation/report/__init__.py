"""Wing 4 of evaluation: the report: one record per source (results), metrics.json and
comparison.md (writer), the bar chart and findings (bar, findings) and the figures.

May import: classic_sweep, quality, classifiers, augment."""
