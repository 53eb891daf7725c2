"""The one training loop: learning, checkpoints every epoch, exact resume, divergence."""

from __future__ import annotations

import csv
import dataclasses

import pytest
import torch

from augment.models import build_model
from augment.models.layers import reparameterize
from augment.models.losses import reconstruction_loss
from augment.settings.paths import generator_checkpoint
from augment.training.checkpoint import CheckpointError, read_checkpoint
from augment.training.device import resolve_device
from augment.training.generator_training import train_generator
from augment.training.loop import TrainingDiverged, epoch_batches, fit
from augment.training.warm_start import warm_start
from tests.conftest import tiny_params


def small_train(digits, n=256):
    return digits.train.subset(torch.arange(n))


def test_epoch_batches_are_fixed_by_seed_and_epoch_and_drop_a_short_tail():
    a = epoch_batches(100, 32, seed=0, epoch=3)
    assert [len(b) for b in a] == [32, 32, 32]
    assert all(torch.equal(x, y) for x, y in zip(a, epoch_batches(100, 32, 0, 3), strict=True))
    assert not torch.equal(a[0], epoch_batches(100, 32, 0, 4)[0])
    assert [len(b) for b in epoch_batches(10, 32, 0, 1)] == [10]  # one short batch is kept


def test_short_training_lowers_the_cvae_reconstruction_loss(tmp_path, digits):
    params = tiny_params(tmp_path, epochs=3)
    torch.manual_seed(0)
    model = build_model("cvae", params.generators.cvae, digits.image_shape, digits.num_classes)

    def val_reconstruction():
        model.eval()
        with torch.no_grad():
            torch.manual_seed(1)
            mu, logvar = model.encode(digits.val.images, digits.val.labels)
            return reconstruction_loss(model.decode(mu, digits.val.labels), digits.val.images).item()

    before = val_reconstruction()
    fit(
        model,
        digits.train,
        digits.classes,
        epochs=3,
        batch_size=64,
        seed=0,
        checkpoint_path=tmp_path / "cvae.pt",
        progress=False,
    )
    after = val_reconstruction()
    assert after < 0.8 * before, (before, after)


def test_a_checkpoint_is_written_after_every_epoch_with_history(tmp_path, digits):
    params = tiny_params(tmp_path, epochs=2)
    model, state, out = train_generator(params, "cgan", splits=digits, progress=False)
    payload = read_checkpoint(out)
    assert payload["training"]["epoch"] == 2
    assert len(payload["training"]["history"]) == 2
    assert set(payload["training"]["history"][0]) == set(model.loss_names)
    report = tmp_path / "reports/generators/cgan"
    assert sorted(p.name for p in (report / "progress").iterdir()) == ["epoch_001.png", "epoch_002.png"]
    rows = list(csv.DictReader((report / "losses.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2"]


@pytest.mark.parametrize("name", ["cvae", "cgan", "cvaegan"])
def test_resume_gives_exactly_the_uninterrupted_result(tmp_path, digits, name):
    params = tiny_params(tmp_path, epochs=3)
    data = dataclasses.replace(digits, train=small_train(digits, 192))

    straight, _, _ = train_generator(params, name, splits=data, out=tmp_path / "a.pt", progress=False)

    # "Interrupted" after epoch 1: a run configured for 1 epoch, then resumed to 3.
    short = dataclasses.replace(params.generator(name), epochs=1)
    setattr(params.generators, name, short)
    train_generator(params, name, splits=data, out=tmp_path / "b.pt", progress=False)
    setattr(params.generators, name, dataclasses.replace(short, epochs=3))
    resumed, state, _ = train_generator(params, name, splits=data, out=tmp_path / "b.pt", resume=True, progress=False)

    assert state.epoch == 3 and len(state.history) == 3
    for (k, a), b in zip(straight.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    rows = list(csv.DictReader((tmp_path / "b-training/losses.csv").open()))  # beside the checkpoint given
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]


def test_resume_compares_an_option_a_checkpoint_predates_with_its_default(tmp_path, digits):
    # A checkpoint written before an option existed has no key for it and was trained with the
    # option's default (off): resuming with the option on would mix two trainings, so it is refused.
    params = tiny_params(tmp_path, epochs=1)
    out = tmp_path / "cgan.pt"
    train_generator(params, "cgan", splits=digits, out=out, progress=False)
    payload = read_checkpoint(out)
    for key in ("diffaugment", "diffaugment_p"):
        del payload["config"][key]
    torch.save(payload, out)

    params.generators.cgan = dataclasses.replace(params.generators.cgan, epochs=2, diffaugment=["cutout"])
    with pytest.raises(CheckpointError, match=r"diffaugment=\[\], params now say diffaugment=\['cutout'\]"):
        train_generator(params, "cgan", splits=digits, out=out, resume=True, progress=False)

    params.generators.cgan = dataclasses.replace(params.generators.cgan, diffaugment=[])
    _, state, _ = train_generator(params, "cgan", splits=digits, out=out, resume=True, progress=False)
    assert state.epoch == 2


def test_a_non_finite_loss_stops_with_epoch_and_step_and_keeps_the_last_good_checkpoint(tmp_path, digits):
    params = tiny_params(tmp_path, epochs=1)
    out = tmp_path / "cvae.pt"
    train_generator(params, "cvae", splits=digits, out=out, progress=False)
    good = out.read_bytes()

    params.generators.cvae = dataclasses.replace(params.generators.cvae, epochs=3, lr=1e6)
    with pytest.raises(TrainingDiverged, match=r"non-finite loss at epoch \d+, step \d+"):
        train_generator(params, "cvae", splits=digits, out=out, resume=True, progress=False)
    payload = read_checkpoint(out)
    assert payload["training"]["epoch"] >= 1
    for v in payload["state_dict"].values():
        assert torch.isfinite(v.float()).all()
    if payload["training"]["epoch"] == 1:
        assert out.read_bytes() == good


def test_device_auto_is_cpu_here_and_cuda_without_a_gpu_is_an_error():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert resolve_device("auto").type == "cpu"
    with pytest.raises(RuntimeError, match="no CUDA device"):
        resolve_device("cuda")


def test_reparameterize_has_the_posterior_mean_and_variance():
    torch.manual_seed(0)
    mu, logvar = torch.full((20000, 1), 2.0), torch.full((20000, 1), 0.0)
    z = reparameterize(mu, logvar)
    assert abs(z.mean().item() - 2.0) < 0.05 and abs(z.var().item() - 1.0) < 0.05


# --------------------------------------------------------------------------------------------
# Training length in steps, and the CVAE-GAN's warm start
# --------------------------------------------------------------------------------------------


def test_steps_per_epoch_streams_passes_and_matches_one_pass_when_equal():
    # 100 images, batch 32: P = 3 batches per pass. With S = P the two modes give the same batches.
    for epoch in (1, 2, 5):
        assert all(
            torch.equal(a, b)
            for a, b in zip(
                epoch_batches(100, 32, 0, epoch), epoch_batches(100, 32, 0, epoch, steps_per_epoch=3), strict=True
            )
        )
    # S = 5: epoch 1 is pass 1 (3 batches) + the first 2 of pass 2; epoch 2 the last of pass 2 + pass 3 ...
    stream = [b for p in (1, 2, 3, 4) for b in epoch_batches(100, 32, 0, p)]
    e1, e2 = epoch_batches(100, 32, 0, 1, steps_per_epoch=5), epoch_batches(100, 32, 0, 2, steps_per_epoch=5)
    assert len(e1) == len(e2) == 5
    assert all(torch.equal(a, b) for a, b in zip(e1 + e2, stream[:10], strict=True))


def test_steps_per_epoch_fixes_the_training_length_whatever_the_data_size(tmp_path, digits):
    params = tiny_params(tmp_path, epochs=2, steps_per_epoch=7)
    counts = {}
    for n in (64, 512):
        data = digits.train.subset(torch.arange(n))
        torch.manual_seed(0)
        model = build_model("cgan", params.generators.cgan, digits.image_shape, digits.num_classes)
        steps = []
        original = model.train_step
        model.train_step = lambda x, y, o, _f=original, _s=steps: _s.append(len(x)) or _f(x, y, o)
        fit(
            model,
            data,
            digits.classes,
            epochs=2,
            batch_size=32,
            seed=0,
            checkpoint_path=tmp_path / f"{n}.pt",
            progress=False,
            steps_per_epoch=7,
        )
        counts[n] = len(steps)
    assert counts == {64: 14, 512: 14}


def test_resume_with_steps_per_epoch_equals_an_uninterrupted_run(tmp_path, digits):
    data = small_train(digits, 128)
    params = tiny_params(tmp_path, epochs=3)
    results = []
    for resume_after in (None, 1):
        torch.manual_seed(0)
        model = build_model("cvae", params.generators.cvae, digits.image_shape, digits.num_classes)
        path = tmp_path / f"run_{resume_after}.pt"
        if resume_after:
            fit(
                model,
                data,
                digits.classes,
                epochs=resume_after,
                batch_size=32,
                seed=0,
                checkpoint_path=path,
                progress=False,
                steps_per_epoch=5,
            )
            torch.manual_seed(0)
            model = build_model("cvae", params.generators.cvae, digits.image_shape, digits.num_classes)
        fit(
            model,
            data,
            digits.classes,
            epochs=3,
            batch_size=32,
            seed=0,
            checkpoint_path=path,
            resume=bool(resume_after),
            progress=False,
            steps_per_epoch=5,
        )
        results.append(model.state_dict())
    assert all(torch.equal(results[0][k], results[1][k]) for k in results[0])


def test_warm_start_copies_encoder_and_decoder_and_nothing_else(tmp_path, digits):
    params = tiny_params(tmp_path, epochs=1, ema=0.9)
    cvae, _, cvae_path = train_generator(params, "cvae", splits=digits, progress=False)
    assert cvae_path == generator_checkpoint(params, "cvae")
    params.generators.cvaegan.epochs = 1
    torch.manual_seed(params.generators.seed)
    cold = build_model("cvaegan", params.generators.cvaegan, digits.image_shape, digits.num_classes)
    params.generators.cvaegan = dataclasses.replace(params.generators.cvaegan, init_from="cvae")

    torch.manual_seed(params.generators.seed)
    warm = build_model("cvaegan", params.generators.cvaegan, digits.image_shape, digits.num_classes)
    assert warm_start(warm, params, digits.classes) == "cvae"
    for net in ("encoder", "decoder"):
        mine, theirs = getattr(warm, net).state_dict(), getattr(cvae, net).state_dict()
        assert all(torch.equal(mine[k], theirs[k]) for k in theirs), net
    assert all(
        torch.equal(a, b)
        for a, b in zip(warm.ema_decoder.state_dict().values(), cvae.decoder.state_dict().values(), strict=True)
    )
    # the discriminator is the one a cold start gets
    assert all(
        torch.equal(a, b)
        for a, b in zip(warm.discriminator.state_dict().values(), cold.discriminator.state_dict().values(), strict=True)
    )
    # the pipeline's training does the same, and the checkpoint records the start
    model, _, out = train_generator(params, "cvaegan", splits=digits, progress=False)
    assert read_checkpoint(out)["config"]["init_from"] == "cvae"
    assert warm_start(cold, params, digits.classes) == "none"
