"""Where MLflow runs go, which runs belong together, and the logging process that writes them."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from augment.params.config import Params
from augment.tracking.runs import Tracker, execution_id
from augment.tracking.store import TrackingError, tracking_uri


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


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


# --- the logging process (augment/tracking/worker.py) ---------------------------------------


@pytest.fixture(autouse=True)
def _in_tmp(request, tmp_path, monkeypatch):
    """The sqlite store's artifacts go to the project's mlruns/: here, the test's folder; and the
    store is the params' (mlflow.set_tracking_uri in an earlier test sets MLFLOW_TRACKING_URI)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def _params(tmp_path) -> Params:
    params = Params()
    params.tracking.uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    return params


def test_a_stage_logs_through_its_logging_process_without_importing_mlflow(tmp_path):
    # A fresh interpreter, as a stage is: MLflow is imported by the logging process only, and
    # a file is logged as it was when the stage logged it, not as it is when the child gets to it.
    script = f"""
import sys
import time
from pathlib import Path
from augment.params.config import Params
from augment.tracking.runs import Tracker
params = Params()
params.tracking.uri = "sqlite:///{tmp_path / "mlflow.db"}"
report = Path("{tmp_path / "report.txt"}")
report.write_text("as logged")
with Tracker(params, stage="train_classifier", method="real", root="{tmp_path}") as tracker:
    tracker.log_params({{"classifier": {{"steps": 5}}}})
    tracker.log_metrics({{"classic+cvae.accuracy": 0.5}}, step=1)
    tracker.log_artifact(report)
    report.write_text("rewritten after the call")
    print(tracker.run_id)
print("mlflow" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=_env())
    assert done.returncode == 0, done.stderr[-2000:]
    run_id, imported = done.stdout.split()
    assert imported == "False"
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["classifier.steps"] == "5"
    assert run.data.metrics["classic_plus_cvae.accuracy"] == 0.5
    logged = client.download_artifacts(run_id, "report.txt", str(tmp_path / "down"))
    assert Path(logged).read_text() == "as logged"


def test_a_store_failure_in_the_logging_process_stops_the_stage_in_one_line(tmp_path):
    params = _params(tmp_path)
    with pytest.raises(TrackingError) as failed:
        with Tracker(params, stage="sample", method="cvae", root=tmp_path) as tracker:
            tracker.log_metrics({"a name MLflow refuses!": 1.0})  # returns at once
            tracker.log_metrics({"loss": 1.0})  # may or may not have heard of the failure yet
    message = str(failed.value)
    assert "\n" not in message
    assert message.startswith(f"MLflow tracking store {params.tracking.uri} failed while logging metrics")
    assert message.endswith("this stage stops: bring the store back and run it again (dvc repro)")
    # the run and its parent end FAILED, not FINISHED (as MLflow's own exit handler would)
    client = MlflowClient(params.tracking.uri)
    (run,) = client.search_runs(
        [client.get_experiment_by_name("augment").experiment_id], filter_string="tags.`augment.stage` = 'sample'"
    )
    assert run.info.status == "FAILED"
    assert client.get_run(run.data.tags["mlflow.parentRunId"]).info.status == "FAILED"


def test_a_logging_process_that_dies_is_one_line_at_the_next_call(tmp_path):
    with Tracker(_params(tmp_path), stage="sample", method="cvae", root=tmp_path) as tracker:
        assert tracker.run_id  # started
        tracker.process.process.kill()
        tracker.process.process.wait()
        with pytest.raises(TrackingError, match=r"the MLflow logging process ended unexpectedly \(exit code -9\)"):
            tracker.log_metrics({"loss": 1.0})
            tracker.run_id  # noqa: B018 - waits for a reply that cannot come
        # the block's end does not hide the error above, nor raise a second one
    assert not tracker.active


def test_a_stage_that_fails_ends_its_run_failed_and_keeps_its_own_error(tmp_path):
    params = _params(tmp_path)
    with pytest.raises(ValueError, match="the stage's own error"):
        with Tracker(params, stage="evaluate", method="cvae", root=tmp_path) as tracker:
            run_id = tracker.run_id
            raise ValueError("the stage's own error")
    assert MlflowClient(params.tracking.uri).get_run(run_id).info.status == "FAILED"


def test_a_disabled_tracker_starts_no_process_and_logs_nothing(tmp_path):
    params = _params(tmp_path)
    params.tracking.enabled = False
    with Tracker(params, stage="sample", method="cvae") as tracker:
        tracker.log_metrics({"loss": 1.0})
        assert not tracker.active and tracker.run_id == "" and tracker.log_generator(tmp_path / "none.pt") is None
    assert not (tmp_path / "mlflow.db").exists()


def test_a_stage_killed_mid_run_leaves_its_run_killed_not_finished(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    script = f"""
import os, signal
from augment.params.config import Params
from augment.tracking.runs import Tracker
params = Params()
params.tracking.uri = "{uri}"
with Tracker(params, stage="train_generator", method="cvae") as tracker:
    print(tracker.run_id, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's OOM killer would
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=_env())
    assert done.returncode == -9, done.stderr[-2000:]
    client = MlflowClient(uri)
    deadline = time.monotonic() + 120  # the orphaned logging process sees its input close
    while (status := client.get_run(done.stdout.strip()).info.status) == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert status == "KILLED"


def test_a_repro_keeps_one_execution_id_when_the_wall_clock_is_stepped(monkeypatch):
    # psutil's create_time of the repro's dvc process is the boot time (from the wall clock) plus
    # its start ticks: a clock stepped mid-repro moves it. The id must not move with it.
    import augment.tracking.runs as runs

    class Dvc:  # the repro's dvc process: this test's own pid, so its /proc/<pid>/stat exists
        pid = os.getpid()
        stepped = 0.0

        def name(self):
            return "dvc"

        def cmdline(self):
            return ["dvc", "repro"]

        def create_time(self):
            Dvc.stepped += 13.5  # another value at every call, as on the VM whose clock was stepped
            return 1.7e9 + Dvc.stepped

        def parent(self):
            return None

    class Stage:  # the stage process, whose parent is dvc
        def parent(self):
            return Dvc()

    monkeypatch.delenv("AUGMENT_EXECUTION_ID", raising=False)
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    monkeypatch.setattr(runs.psutil, "Process", Stage)
    first, second = execution_id(), execution_id()
    assert first == second == f"dvc-t{runs._start_ticks(os.getpid())}-{os.getpid()}"
    assert runs._start_ticks(2**22 + 12345) is None  # no such process: the date and time instead
