"""Screenshots of MLflow's UI on this project's real runs, for the README (docs/mlflow-*.png).

Run after a ``dvc repro`` with tracking on, in the project folder::

    apt-get install chromium          # Debian's Chromium; playwright drives it, downloads nothing
    pip install -e '.[screenshots]'   # playwright
    python docs/mlflow_screenshots.py [--params params.yaml] [--out docs]

It starts ``mlflow ui`` on the project's store (``tracking.uri``) on a free port, opens the runs
page in the model-training view (the address ``augment ui`` prints), expands the newest
execution's parent run and saves ``mlflow-runs.png``; then opens the newest
``train_generator@cvaegan`` run's images and saves ``mlflow-generator-images.png``. Nothing is
staged or drawn: what the PNGs show is what the UI showed.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from mlflow.tracking import MlflowClient
from playwright.sync_api import sync_playwright

from augment.params.file import load_params
from augment.tracking.runs import PIPELINE_STAGE, TAG_METHOD, TAG_STAGE, experiment_for, runs_page_url
from augment.tracking.store import tracking_uri

VIEWPORT = {"width": 1500, "height": 900}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, server: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"mlflow ui exited with code {server.returncode}")
        try:
            urllib.request.urlopen(url + "/health", timeout=2).read()
            return
        except OSError:
            time.sleep(0.5)
    sys.exit(f"mlflow ui did not answer at {url} within {seconds:.0f} s")


def _newest(client, experiment_id: str, stage: str, method: str):
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{TAG_STAGE}` = '{stage}' and tags.`{TAG_METHOD}` = '{method}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not runs:
        sys.exit(f"no {stage} run of {method} in the store: run `dvc repro` first")
    return runs[0]


def _close_assistant(page) -> None:
    """MLflow 3.17 opens an assistant chat panel on the right; it is not part of the runs."""
    close = page.locator('[data-component-id="mlflow.assistant.chat_panel.close"]')
    if close.count():
        close.first.click()
        page.wait_for_timeout(500)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", type=Path, default=Path("docs"))
    args = parser.parse_args(argv)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("no Chromium on PATH: apt-get install chromium")

    params = load_params(args.params)
    uri = tracking_uri(params)
    client = MlflowClient(uri)
    experiment_id = experiment_for(params, uri)
    parent = _newest(client, experiment_id, PIPELINE_STAGE, "all")
    generator = _newest(client, experiment_id, "train_generator", "cvaegan")

    port = _free_port()
    server_url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_healthy(server_url, server)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport=VIEWPORT)

            page.goto(runs_page_url(params, uri, server_url))
            page.wait_for_selector(f"text={parent.info.run_name}", timeout=60_000)
            _close_assistant(page)
            row = page.locator(".ag-row", has_text=parent.info.run_name).first
            row.locator("button").first.click()  # the parent's expander: show the nested stage runs
            page.wait_for_selector("text=generator:cvaegan", timeout=30_000)
            page.wait_for_timeout(1500)
            page.screenshot(path=str(args.out / "mlflow-runs.png"))

            # The run's artifacts: the final sample grid (one row per class) previewed, beside
            # the per-epoch progress grids (images/, an image series: step = epoch).
            page.goto(
                f"{server_url}/#/experiments/{experiment_id}/runs/{generator.info.run_id}/artifacts"
                "?workflowType=machine_learning"
            )
            page.wait_for_selector("text=samples.png", timeout=60_000)
            _close_assistant(page)
            page.locator("text=samples.png").first.click()
            page.wait_for_selector('img[src*="samples.png"], img[src^="blob:"]', timeout=60_000)
            page.wait_for_timeout(1500)
            page.screenshot(path=str(args.out / "mlflow-generator-images.png"))
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    print(f"wrote {args.out / 'mlflow-runs.png'} and {args.out / 'mlflow-generator-images.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
