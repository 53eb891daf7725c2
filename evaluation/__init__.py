"""Evaluation: downstream classifier, judge network, metrics, statistics and the report."""
