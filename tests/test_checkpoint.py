"""Checkpoints: round trip, metadata, atomic writes, and refusal of unsafe or foreign files."""

import os
from pathlib import Path

import pytest
import torch

import augment
from augment.models import build_model
from augment.params.config import CGANConfig, CVAEConfig
from augment.sampling.generation import sample_images
from augment.training.checkpoint import FORMAT_VERSION, CheckpointError, load_generator, read_checkpoint, save_generator

CLASSES = ["zero", "one", "two"]


def tiny(name="cvae", shape=(1, 8, 8)):
    torch.manual_seed(0)
    cfg = {"cvae": CVAEConfig(latent_dim=4, width=8), "cgan": CGANConfig(latent_dim=4, width=8)}[name]
    return build_model(name, cfg, shape, len(CLASSES))


def test_round_trip_rebuilds_the_same_network(tmp_path):
    model = tiny()
    path = tmp_path / "g.pt"
    save_generator(path, model, CLASSES)
    loaded, payload = load_generator(path)
    z, y = torch.randn(3, 4), torch.tensor([0, 1, 2])
    torch.testing.assert_close(loaded.generate(z, y), model.generate(z, y))
    assert payload["model"] == "cvae"
    assert payload["classes"] == CLASSES
    assert payload["image_shape"] == [1, 8, 8]
    assert payload["library_version"] == augment.__version__
    assert payload["format_version"] == FORMAT_VERSION
    assert payload["config"]["latent_dim"] == 4


def test_pickled_code_is_never_executed(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pt"
    torch.save({"format_version": 1, "model": "cvae", "state_dict": Payload()}, path)
    with pytest.raises(CheckpointError, match="refused to load"):
        load_generator(path)
    assert not marker.exists()


def test_truncated_file_is_reported(tmp_path):
    path = tmp_path / "g.pt"
    save_generator(path, tiny(), CLASSES)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_generator(path)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint not found: .*nope.pt"):
        load_generator(tmp_path / "nope.pt")


def test_other_model_kind_or_shape_is_refused(tmp_path):
    path = tmp_path / "g.pt"
    save_generator(path, tiny("cgan"), CLASSES)
    with pytest.raises(CheckpointError, match="holds a 'cgan' model, expected 'cvae'"):
        load_generator(path, expected_model="cvae")
    with pytest.raises(CheckpointError, match=r"shape \(1, 8, 8\), expected \(1, 28, 28\)"):
        load_generator(path, expected_shape=(1, 28, 28))


def test_newer_format_version_is_refused(tmp_path):
    path = tmp_path / "g.pt"
    save_generator(path, tiny(), CLASSES)
    payload = torch.load(path, weights_only=True)
    payload["format_version"] = FORMAT_VERSION + 1
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="newer than this augment"):
        read_checkpoint(path)


def test_a_crash_during_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "g.pt"
    save_generator(path, tiny(), CLASSES)
    before = path.read_bytes()

    def crash(obj, f, *a, **k):
        f.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_generator(path, tiny(), CLASSES)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["g.pt"]  # no temporary file left behind


def test_not_a_checkpoint_is_reported(tmp_path):
    path = tmp_path / "x.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match="not an augment generator checkpoint"):
        load_generator(path)


# Files the library wrote before its wings (tests/data/flat-layout/make.py, commit d030256):
# a checkpoint and an MLflow model folder whose MLmodel names the loader augment.mlflow_model.
FLAT = Path(__file__).parent / "data" / "flat-layout"


def test_a_checkpoint_written_before_the_wings_loads_and_draws_the_same_images():
    model, payload = load_generator(FLAT / "cvae.pt")
    assert payload["model"] == "cvae" and payload["classes"] == CLASSES
    images = sample_images(model, torch.tensor([0, 1, 2, 0]), seed=5)
    torch.testing.assert_close(images, torch.load(FLAT / "expected.pt"), rtol=0, atol=1e-6)


def test_an_mlflow_model_logged_before_the_wings_loads_through_its_old_loader_name():
    import mlflow.pyfunc
    import pandas as pd

    assert "loader_module: augment.mlflow_model" in (FLAT / "mlflow-model" / "MLmodel").read_text()
    pyfunc = mlflow.pyfunc.load_model(str(FLAT / "mlflow-model"))
    images = pyfunc.predict(pd.DataFrame({"label": [0, 1, 2, 0]}), params={"seed": 5})  # [4, 1, 8, 8]
    torch.testing.assert_close(torch.from_numpy(images), torch.load(FLAT / "expected.pt"), rtol=0, atol=1e-6)


def test_refusing_pickled_code_names_what_it_refused_and_gives_no_unsafe_hint(tmp_path):
    class Payload:
        def __reduce__(self):
            return (os.system, ("true",))

    path = tmp_path / "evil.pt"
    torch.save({"format_version": 1, "model": "cvae", "state_dict": Payload()}, path)
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path)
    message = str(info.value)
    assert "system" in message  # the global it refused (posix.system here)
    assert "weights_only" not in message and "will likely succeed" not in message  # torch's hint to run it


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_weights_that_are_not_finite_are_refused(tmp_path, value):
    model = tiny()
    path = tmp_path / "g.pt"
    with torch.no_grad():
        next(model.parameters()).view(-1)[0] = value
    save_generator(path, model, CLASSES)
    with pytest.raises(CheckpointError, match="1 NaN or infinite values"):
        read_checkpoint(path)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_checkpoint_gets_the_mode_any_new_file_gets(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        save_generator(tmp_path / "g.pt", tiny(), CLASSES)
    finally:
        os.umask(old)
    assert (tmp_path / "g.pt").stat().st_mode & 0o777 == mode


def test_an_unreadable_checkpoint_is_not_called_corrupt(tmp_path, monkeypatch):
    path = tmp_path / "g.pt"
    save_generator(path, tiny(), CLASSES)

    def denied(p):
        raise PermissionError(13, "Permission denied", str(p))  # another user's 0600 file (chmod does not stop root)

    monkeypatch.setattr("augment.training.checkpoint._check_archive", denied)
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path)
    assert str(info.value) == f"{path}: cannot be read: Permission denied"


def test_a_checkpoint_naming_a_class_twice_is_refused(tmp_path):
    path = tmp_path / "g.pt"
    save_generator(path, tiny(), ["zero", "one", "zero"])  # label 0 and 2 would share one name
    with pytest.raises(CheckpointError, match="classes must be distinct names; named more than once: zero"):
        read_checkpoint(path)
