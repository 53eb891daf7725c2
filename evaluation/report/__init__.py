"""Wing 3 of evaluation: the report: one record per source (results), metrics.json and
comparison.md (writer), the bar chart and findings (bar, findings) and the figures.

May import: quality, classifiers, augment."""
