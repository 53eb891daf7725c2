"""A shared MLflow server, as a team runs one: a real `mlflow server` on 127.0.0.1 (free port,
sqlite backend, its own artifact folder), a tiny `dvc repro` logging to it over HTTP, and a
server that dies in the middle of a stage. Small on purpose: two stages, tiny networks."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from augment.cli import main
from tests.conftest import copy_project

pytestmark = pytest.mark.server

BIN = Path(sys.executable).parent
TINY = {
    "data": {"train_size": 200},
    "generators": {"grid_every": 1, "cvae": {"epochs": 3, "latent_dim": 4, "width": 8}},
    "classifier": {"seeds": [0, 1], "steps": 20, "width": 8},
}
# prepare, train_generator@cvae (per-epoch losses and grids, the final grid, the loss table) and
# train_classifier@real (accuracy, per-seed runs' metrics): every kind of thing a stage logs
STAGES = ["train_generator@cvae", "train_classifier@real"]


class Server:
    """`mlflow server` in a subprocess, stopped by :meth:`stop` (the test owns its lifetime)."""

    def __init__(self, folder: Path) -> None:
        self.db = folder / "server.db"
        self.artifacts = folder / "artifacts"
        self.log = folder / "server.log"
        self.process: subprocess.Popen | None = None
        self.uri = ""

    def start(self) -> Server:
        with socket.socket() as s:  # a free port: bind 0, read it, release it
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.uri = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [
                str(BIN / "mlflow"),
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--backend-store-uri",
                f"sqlite:///{self.db}",
                "--artifacts-destination",
                str(self.artifacts),
                "--workers",
                "1",
            ],
            stdout=open(self.log, "ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the web workers it spawns die with it
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {self.log.read_text()[-2000:]}")
            try:
                urllib.request.urlopen(self.uri + "/health", timeout=2).read()
                return self
            except OSError:
                time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"mlflow server did not answer within 120 s: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process is not None:
            try:  # a crash, not a clean shutdown: SIGKILL to the server and its workers
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=30)
        self.process = None

    def query(self, sql: str) -> list[tuple]:
        """Read the server's own backend store (what arrived, whoever sent it)."""
        connection = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10)
        try:
            return connection.execute(sql).fetchall()
        except sqlite3.OperationalError:  # tables not created yet
            return []
        finally:
            connection.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One server for the module (a start takes seconds); the last test kills and restarts it."""
    srv = Server(tmp_path_factory.mktemp("mlflow-server")).start()
    yield srv
    srv.stop()


def _project(tmp_path: Path, uri: str) -> tuple[Path, dict]:
    project = tmp_path / "project"
    project.mkdir()
    env = copy_project(project, TINY)
    env["MLFLOW_TRACKING_URI"] = uri
    return project, env


def _dvc(project: Path, env: dict, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "dvc"), *args], cwd=project, env=env, capture_output=True, text=True, timeout=600, **kwargs
    )


def test_a_dvc_repro_logs_every_run_metric_and_image_through_the_server(tmp_path, server):
    project, env = _project(tmp_path, server.uri)
    result = _dvc(project, env, "repro", *STAGES)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert not (project / "mlflow.db").exists() and not (project / "mlruns").exists()  # nothing local

    client = MlflowClient(tracking_uri=server.uri)
    experiment = client.get_experiment_by_name("augment")
    runs = client.search_runs([experiment.experiment_id])
    by_stage = {(r.data.tags["augment.stage"], r.data.tags["augment.method"]): r for r in runs}
    assert set(by_stage) == {("train_generator", "cvae"), ("train_classifier", "real"), ("pipeline", "all")}
    assert all(r.info.status == "FINISHED" for r in runs)
    assert len({r.data.tags["augment.execution"] for r in runs}) == 1  # one dvc repro
    parent = by_stage[("pipeline", "all")].info.run_id
    assert by_stage[("train_classifier", "real")].data.tags["mlflow.parentRunId"] == parent

    generator = by_stage[("train_generator", "cvae")]
    history = client.get_metric_history(generator.info.run_id, "loss")
    assert [m.step for m in history] == [1, 2, 3]  # one loss per epoch
    artifacts = {a.path for a in client.list_artifacts(generator.info.run_id)}
    images = {a.path for a in client.list_artifacts(generator.info.run_id, "images")}
    assert images, artifacts  # the per-epoch progress grids (mlflow.log_image series)
    classifier = by_stage[("train_classifier", "real")]
    assert 0.0 < classifier.data.metrics["accuracy"] <= 1.0

    # The files are in the server's artifact folder, not the project: they went through HTTP.
    stored = [p for p in server.artifacts.rglob("*") if p.is_file()]
    assert any(p.suffix == ".png" for p in stored)
    # the generator, registered on the server, its checkpoint in the server's artifact store
    (version,) = client.search_model_versions("name = 'augment-cvae'")
    checkpoint = (project / "models/generators/cvae.pt").read_bytes()
    assert [p.read_bytes() == checkpoint for p in stored if p.name == "generator.pt"] == [True]
    assert len(server.query("SELECT run_uuid FROM runs")) == 3  # nothing else logged there yet


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no Chromium: apt-get install chromium")
def test_the_address_augment_ui_prints_opens_the_training_runs_in_a_real_browser(server, capsys, monkeypatch):
    # Runs after the repro test above, whose runs the server holds.

    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.uri)
    assert main(["ui"]) == 0  # a server URI: prints its runs page, starts nothing
    url = capsys.readouterr().out.strip().split(": ", 1)[1]
    assert url.startswith(server.uri + "/#/experiments/") and url.endswith("/runs?workflowType=machine_learning")
    client = MlflowClient(server.uri)
    parents = client.search_runs(
        [client.get_experiment_by_name("augment").experiment_id], filter_string="tags.`augment.stage` = 'pipeline'"
    )
    assert parents, "the repro test did not run first"
    dom = subprocess.run(
        [
            shutil.which("chromium"),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=20000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    # The runs table, with the execution's parent run, not MLflow 3's GenAI overview.
    assert "Run Name" in dom and parents[0].info.run_name in dom, dom[-2000:]
    assert "Token usage" not in dom


def test_a_server_that_dies_mid_stage_fails_the_stage_in_one_line_and_the_next_repro_finishes(tmp_path, server):
    project, env = _project(tmp_path, server.uri)
    # Enough epochs that the run is still training when the server goes; few grids to upload.
    text = (project / "params.yaml").read_text()
    (project / "params.yaml").write_text(
        text.replace("epochs: 3", "epochs: 20", 1).replace("grid_every: 1", "grid_every: 10", 1)
    )
    env["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"  # fail at once instead of backing off
    logged = len(server.query("SELECT key FROM metrics WHERE key = 'loss'"))  # by the test before
    runs_before = {r for (r,) in server.query("SELECT run_uuid FROM runs")}
    repro = subprocess.Popen(
        [str(BIN / "dvc"), "repro", "train_generator@cvae"],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300
    while len(server.query("SELECT key FROM metrics WHERE key = 'loss'")) == logged and time.monotonic() < deadline:
        assert repro.poll() is None, "the stage ended before the server could be stopped"
        time.sleep(0.05)
    server.stop()  # killed while train_generator@cvae trains and logs each epoch
    out, err = repro.communicate(timeout=300)
    assert repro.returncode != 0
    stage_errors = [line for line in (out + err).splitlines() if line.startswith("train_generator: error:")]
    assert len(stage_errors) == 1, out[-2000:] + err[-2000:]
    assert "MLflow tracking store http://127.0.0.1" in stage_errors[0]
    assert "failed while logging" in stage_errors[0]
    assert "Traceback" not in out + err

    server.start()  # back, on a new port, same store
    env["MLFLOW_TRACKING_URI"] = server.uri
    again = _dvc(project, env, "repro", "train_generator@cvae")
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert (project / "models/generators/cvae.pt").is_file()
    statuses = sorted(
        status for (run, status) in server.query("SELECT run_uuid, status FROM runs") if run not in runs_before
    )
    # the rerun's run and parent; the killed run and its parent, never closed
    assert statuses == ["FINISHED", "FINISHED", "RUNNING", "RUNNING"], statuses
    status = _dvc(project, env, "status", "train_generator@cvae")
    assert "up to date" in status.stdout or status.stdout.strip() == "", status.stdout
