"""DVC's promise, same deps and params -> same outputs, holds only if a stage's deps cover every
line of code it runs: each stage's deps in dvc.yaml cover every project module its script
imports, directly or not (the import graph, read statically by grimp, import-linter's engine),
and a change to a module a stage imports only indirectly makes DVC run it again."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import grimp
import pytest
import yaml

from tests.conftest import ROOT, copy_project

PACKAGES = ("augment", "evaluation", "pipelines")


def _file(module: str) -> str:
    path = Path(*module.split("."))
    return str(path / "__init__.py") if (ROOT / path).is_dir() else str(path.with_suffix(".py"))


def stage_modules() -> dict[str, tuple[str, set[str]]]:
    """dvc.yaml's stage -> (its script's module, the files of every project module it runs:
    the script, what it imports transitively, and the packages those live in)."""
    sys.path.insert(0, str(ROOT))  # evaluation and pipelines run from the checkout, not site-packages
    try:
        graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True)
    finally:
        sys.path.remove(str(ROOT))
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    found = {}
    for name, stage in stages.items():
        body = stage.get("do", stage)
        module = re.search(r"python -m (\S+)", body["cmd"]).group(1)
        closure = {module} | graph.find_upstream_modules(module)
        closure |= {".".join(m.split(".")[:k]) for m in closure for k in range(1, m.count(".") + 1)}
        found[name] = (module, {_file(m) for m in closure})
    return found


STAGES = stage_modules()


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_a_stages_deps_cover_every_project_module_it_runs(stage):
    body = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"][stage]
    deps = [d.rstrip("/") for d in body.get("do", body)["deps"] if "${" not in d]
    _, files = STAGES[stage]
    missing = sorted(f for f in files if not any(f == d or f.startswith(d + "/") for d in deps))
    assert not missing, f"dvc.yaml: stage {stage} runs these modules but lists none of them in its deps: {missing}"


def test_the_graph_sees_the_imports_inside_functions():
    """The check's own sanity: a stage's closure holds what it imports lazily, and the library
    modules two wings down (train_generator -> augment.training.loop -> augment.core.labels)."""
    _, files = STAGES["train_generator"]
    assert {"pipelines/train_generator.py", "augment/training/loop.py", "augment/core/labels.py"} <= files
    assert "augment/data/labeled.py" in files and "pipelines/__init__.py" in files


@pytest.mark.slow
def test_a_change_to_a_module_a_stage_imports_indirectly_reruns_it(tmp_path):
    env = copy_project(tmp_path, {"tracking": {"enabled": False}})

    def dvc(*args: str) -> str:
        done = subprocess.run(["dvc", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    assert "Running stage 'prepare'" in dvc("repro", "prepare")
    assert "up to date" in dvc("status", "prepare")
    # augment/core/pixels.py: prepare never names it; it runs through augment.data.labeled
    assert "augment/core/pixels.py" in STAGES["prepare"][1]
    with (tmp_path / "augment/core/pixels.py").open("a") as f:
        f.write("\n# a change\n")
    assert "modified:" in dvc("status", "prepare")
    assert "Running stage 'prepare'" in dvc("repro", "prepare")


def test_docs_layout_names_every_module():
    """docs/layout.md lists every folder and module, one line each (by its name, .py or not)."""
    layout = (ROOT / "docs/layout.md").read_text()
    modules = sorted(
        p.relative_to(ROOT)
        for package in PACKAGES
        for p in (ROOT / package).rglob("*.py")
        if p.name != "__init__.py" and "__pycache__" not in p.parts
    )
    missing = [str(m) for m in modules if not re.search(rf"\b{re.escape(m.stem)}\b", layout)]
    assert not missing, f"docs/layout.md does not name: {missing}"
