"""Where MLflow runs go, and which runs belong together."""

from augment.params.config import Params
from augment.tracking.runs import execution_id
from augment.tracking.store import tracking_uri


def test_relative_sqlite_uri_resolves_against_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    assert tracking_uri(Params()) == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"


def test_a_queued_experiment_logs_to_the_real_project_not_its_temporary_copy(tmp_path, monkeypatch):
    # DVC runs queued experiments in .dvc/tmp/exps/<tmp>/ and sets DVC_ROOT to the project.
    copy = tmp_path / ".dvc/tmp/exps/tmpabc"
    copy.mkdir(parents=True)
    monkeypatch.chdir(copy)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    assert tracking_uri(Params()) == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}"


def test_environment_uri_wins_and_absolute_uris_are_kept(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////data/runs.db")
    assert tracking_uri(Params()) == "sqlite:////data/runs.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    assert tracking_uri(Params()) == "http://127.0.0.1:5000"


def test_execution_id_from_the_environment_and_fresh_outside_dvc(monkeypatch):
    monkeypatch.setenv("AUGMENT_EXECUTION_ID", "nightly-42")
    assert execution_id() == "nightly-42"
    monkeypatch.delenv("AUGMENT_EXECUTION_ID")
    first, second = execution_id(), execution_id()
    assert first.startswith("run-") and first != second  # pytest is not run by dvc
