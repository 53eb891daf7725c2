"""The report's summary (evaluation/report/summary.py): each line follows the numbers passed in,
names no built-in model of its own accord (a plugin's generator, here ``toygen`` and ``mix``, is
summarised as a built-in is), and the whole stays within ten lines."""

from __future__ import annotations

from evaluation.quality.stats import delta_fields, paired_delta
from evaluation.report.summary import MAX_LINES, summary_lines
from evaluation.report.writer import render_report
from tests.test_report import entry as report_entry

REAL = [0.900, 0.920, 0.910, 0.905, 0.915]


def entry(per_seed, real=REAL, classic=None):
    """test_report.py's metrics.json entry, with the delta against classic when ``classic`` is given."""
    out = report_entry(per_seed, real)
    if classic is not None:
        out.update(delta_fields("delta_vs_classic", "delta_vs_classic", paired_delta(per_seed, classic)))
    return out


def shifted(values, by, noise=(0.0, 0.001, -0.001, 0.0005, -0.0005)):
    return [v + by + e for v, e in zip(values, noise, strict=True)]


CLASSIC = shifted(REAL, 0.01)


def metrics_where(gain_over_classic: float) -> dict:
    """real, classic (+1 point), a plugin generator ``toygen`` and classic+toygen, which gains
    ``gain_over_classic`` over classic on every seed."""
    noisy = [c + e for c, e in zip(CLASSIC, (0.02, -0.025, 0.01, -0.015, 0.012), strict=True)]
    return {
        "real": entry(REAL, real=None),
        "classic": entry(CLASSIC),
        "toygen": entry(noisy, classic=CLASSIC),
        "classic+toygen": entry(shifted(CLASSIC, gain_over_classic), classic=CLASSIC),
    }


QUALITY = {
    "toygen": {"label_fidelity": 0.97, "recall": 0.4, "coverage": 0.6, "fid": 3.0, "cas": 0.9},
    "mix": {"label_fidelity": 0.91, "recall": 0.8, "coverage": 0.9, "fid": 1.5, "cas": 0.85},
    "real": {"label_fidelity": 0.99, "recall": 0.95, "coverage": 0.97, "fid": 0.6, "cas": 0.96},
}


def test_a_source_that_beats_classic_is_named_with_its_interval():
    lines = summary_lines(metrics_where(0.02), QUALITY)
    assert lines[0].startswith("Best source: classic+toygen, test accuracy ")
    assert lines[1].startswith("Classical augmentation against real data: +1.00 [")
    assert "(helps)" in lines[1] and "the smallest effect this run can detect" in lines[1]
    assert lines[2].startswith(
        "1 of 2 generator sources beat classical augmentation; the most: classic+toygen, +2.00 ["
    )


def test_when_none_beats_classic_the_closest_is_named():
    lines = summary_lines(metrics_where(0.0), QUALITY)
    assert lines[0].startswith("Best source: ")
    line = next(x for x in lines if "classical augmentation measurably" in x)
    assert line.startswith(
        "No generator source beats classical augmentation measurably (0 of 2 do worse); the closest: "
    )


def test_the_best_generator_on_each_axis_reads_the_quality_table():
    line = next(x for x in summary_lines(metrics_where(0.0), QUALITY) if x.startswith("Best generator on each"))
    assert line == (
        "Best generator on each quality axis: label fidelity toygen (0.970); recall mix (0.800); "
        "coverage mix (0.900); FID (judge features) mix (1.500); CAS toygen (0.900)."
    )


def test_the_combination_is_measured_against_the_model_it_started_from():
    metrics = metrics_where(0.0)
    metrics["mix"] = entry(shifted(metrics["toygen"]["accuracy_per_seed"], 0.03), classic=CLASSIC)
    lines = summary_lines(metrics, QUALITY, {"mix": "toygen"})
    line = lines[-1]
    assert line.startswith("Is the combination best? mix (started from toygen): mix against toygen: +3.00 [")
    assert "(helps)" in line and line.endswith("CAS 0.850 vs 0.900; recall 0.800 vs 0.400.")


def test_a_label_budget_adds_the_self_training_line():
    metrics = metrics_where(0.02)
    for name in ("toygen", "classic+toygen"):
        d = paired_delta(metrics[name]["accuracy_per_seed"], shifted(CLASSIC, 0.05))
        metrics[name].update(delta_fields("delta_vs_self_training", "delta_vs_self_training", d))
        metrics[name]["self_training_bar"] = "classic+pseudo"
    line = next(x for x in summary_lines(metrics, QUALITY) if "self-training" in x)
    assert line.startswith(
        "No generator source beats self-training (classical augmentation + self-training, the stronger bar) measurably"
    )


def test_the_summary_is_short_and_heads_the_report(tmp_path):
    metrics = metrics_where(0.02)
    combos = {f"m{i}": "toygen" for i in range(20)}  # more combined models than lines allowed
    assert len(summary_lines(metrics, QUALITY, combos)) <= MAX_LINES
    text = render_report(metrics, QUALITY, {}, tmp_path)
    head = text.splitlines()[:4]
    assert head[2] == "## Summary" and head[4 - 1] == ""
    assert text.splitlines()[4].startswith("- Best source: classic+toygen")
    assert "## Appendix: every finding, one sentence each" in text
