"""The training loops' speed options (augment/core/acceleration.py): bf16 autocast, TF32, channels_last,
compile. On the CPU: each option trains every model and the classifier, changes the weights only
as far as its arithmetic does, and leaves checkpoints that load and sample like any other.
(Whether an option pays is a benchmark: benchmarks/gpu_check.sh.)"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

import augment.core.acceleration as acceleration
from augment.core.acceleration import batch_layout, configure_precision, prepare_networks, training_precision
from augment.models import build_model
from augment.models.layers import Decoder
from augment.models.losses import discriminator_loss, generator_loss, kl_prior, llike_loss, reconstruction_loss
from augment.params.config import AccelerationConfig, ClassifierConfig
from augment.training.checkpoint import load_generator
from augment.training.loop import fit
from evaluation.classifiers.training import train_classifier
from tests.conftest import tiny_params

BF16 = AccelerationConfig(precision="bf16")
CHANNELS_LAST = AccelerationConfig(channels_last=True)
COMPILED = AccelerationConfig(compile=True)
TF32 = AccelerationConfig(precision="tf32")


@pytest.fixture
def eager_compile(monkeypatch):
    """torch.compile with the aot_eager backend: dynamo's graphs and AOTAutograd's compiled
    backward (which is where retain_graph meets donated buffers), without minutes of C++
    compilation; the inductor itself is exercised by benchmarks/gpu_check.sh."""
    monkeypatch.setattr(acceleration, "COMPILE_OPTIONS", {"backend": "aot_eager"})


def _train(tmp_path, digits, name: str, options: AccelerationConfig | None, n: int = 128, **settings):
    params = tiny_params(tmp_path)
    torch.manual_seed(0)
    config = dataclasses.replace(params.generator(name), **settings)
    model = build_model(name, config, digits.image_shape, digits.num_classes)
    state = fit(
        model,
        digits.train.subset(torch.arange(n)),
        digits.classes,
        epochs=1,
        batch_size=32,
        seed=0,
        checkpoint_path=tmp_path / f"{name}.pt",
        progress=False,
        acceleration=options,
    )
    return model, state


def _weights(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_bf16_autocast_does_not_reuse_weights_an_optimizer_step_changed():
    """A GAN step runs D, updates D in place, and runs D again: the second pass must see the new
    weights. Autocast's weight cache would hand back the bf16 copy made before the update."""
    net = nn.Linear(4, 3)
    x = torch.randn(2, 4)
    with training_precision("cpu", BF16):
        before = net(x)
        with torch.no_grad():
            net.weight.add_(1.0)  # what optimizer.step() does
        after = net(x)
    assert before.dtype == torch.bfloat16
    assert not torch.allclose(before.float(), after.float())


@pytest.mark.parametrize("name", ["cvae", "cgan", "cvaegan"])
def test_bf16_training_stays_close_to_float32_and_its_checkpoint_samples_in_float32(tmp_path, digits, name):
    ref, ref_state = _train(tmp_path / "fp32", digits, name, None)
    model, state = _train(tmp_path / "bf16", digits, name, BF16)
    for key, value in ref_state.history[0].items():  # one epoch's mean losses
        assert state.history[0][key] == pytest.approx(value, rel=0.1, abs=0.02), key
    assert not torch.equal(_weights(ref), _weights(model))  # bf16 did run
    loaded, _ = load_generator(tmp_path / "bf16" / f"{name}.pt")
    y = torch.arange(4)
    z = model.sample_noise(4, torch.Generator().manual_seed(0))
    images = loaded.generate(z, y)
    assert images.dtype == torch.float32
    assert torch.equal(images, model.generate(z, y))  # sampling is float32 and eager either way


@pytest.mark.parametrize("name", ["cvae", "cgan", "cvaegan"])
def test_channels_last_changes_the_layout_not_the_result(tmp_path, digits, name):
    ref, ref_state = _train(tmp_path / "nchw", digits, name, None)
    model, state = _train(tmp_path / "nhwc", digits, name, CHANNELS_LAST)
    convs = [m for m in model.trained_networks()[0].modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
    # Only the summation order differs: the losses agree to float32 rounding. (The weights need
    # not: Adam divides by sqrt(v), so a conv bias before batch norm, whose true gradient is 0,
    # moves by up to lr on rounding noise; batch norm removes it, so the images agree.)
    for key, value in ref_state.history[0].items():
        assert state.history[0][key] == pytest.approx(value, rel=1e-5), key
    z, y = ref.sample_noise(8, torch.Generator().manual_seed(0)), torch.arange(8)
    assert torch.allclose(ref.generate(z, y), model.generate(z, y), atol=1e-3)
    loaded, _ = load_generator(tmp_path / "nhwc" / f"{name}.pt")
    assert torch.allclose(_weights(loaded), _weights(model))


@pytest.mark.parametrize("name", ["cvae", "cgan", "cvaegan"])
def test_compile_keeps_parameter_names_and_gives_the_eager_weights(tmp_path, digits, name, eager_compile):
    # Spectral norm's power iteration rounds differently inside a compiled graph (weights within
    # 1e-8 of the eager ones, a bias before batch norm within 1e-4): bit for bit without it.
    plain = {} if name == "cvae" else {"spectral_norm": False}
    ref, _ = _train(tmp_path / "eager", digits, name, None, **plain)
    model, _ = _train(tmp_path / "compiled", digits, name, COMPILED, **plain)
    assert all(getattr(net, "_compiled_call_impl", None) is not None for net in model.trained_networks())
    assert model.ema_decoder is None or getattr(model.ema_decoder, "_compiled_call_impl", None) is None
    assert list(model.state_dict()) == list(ref.state_dict())  # checkpoints unchanged
    assert torch.equal(_weights(ref), _weights(model))
    # The inductor's compiled backward donates buffers, which the CVAE-GAN's retain_graph step
    # refuses (seen on an H200 and on this CPU; 36 s to compile here, so not run in the suite).
    assert torch._functorch.config.donated_buffer is False


def test_tf32_is_allowed_inside_a_training_step_only():
    configure_precision()
    assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
    with training_precision("cpu", TF32):
        assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
    assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32


def test_tf32_on_the_cpu_trains_exactly_as_float32(tmp_path, digits):
    ref, _ = _train(tmp_path / "fp32", digits, "cvae", None)
    model, _ = _train(tmp_path / "tf32", digits, "cvae", TF32)
    assert torch.equal(_weights(ref), _weights(model))  # TF32 exists on CUDA only


def test_every_loss_computes_in_float32_from_bf16_inputs():
    torch.manual_seed(0)
    x = torch.rand(4, 1, 8, 8)
    x_rec = torch.rand(4, 1, 8, 8).clamp(0.01, 0.99)
    mu, logvar, logits, feats = torch.randn(4, 3), torch.randn(4, 3), torch.randn(4), torch.randn(4, 5)
    cases = [
        (reconstruction_loss, (x_rec, x)),
        (kl_prior, (mu, logvar)),
        (llike_loss, (feats, feats.flip(0))),
        (discriminator_loss, (logits, logits.flip(0))),
        (generator_loss, (logits,)),
    ]
    for fn, args in cases:
        low = fn(*(a.bfloat16() for a in args))
        assert low.dtype == torch.float32, fn.__name__
        assert low == pytest.approx(float(fn(*(a.bfloat16().float() for a in args))), rel=1e-6), fn.__name__


def test_the_decoder_ends_in_a_float32_sigmoid_under_autocast():
    decoder = Decoder((1, 8, 8), 10, 4, 8)
    with training_precision("cpu", BF16):
        out = decoder(torch.randn(3, 4), torch.arange(3))
    assert out.dtype == torch.float32


def test_batch_layout_is_nhwc_only_when_asked():
    x = torch.rand(2, 3, 4, 4)
    assert batch_layout(x, CHANNELS_LAST).is_contiguous(memory_format=torch.channels_last)
    assert batch_layout(x, None) is x and batch_layout(x, BF16) is x
    prepare_networks([nn.Conv2d(3, 3, 3)], None)  # None: nothing to do, no error


def test_the_classifier_trains_with_each_option(digits, eager_compile):
    cfg = ClassifierConfig(steps=40, batch_size=32, seeds=[0])
    train = digits.train.subset(torch.arange(512))

    def run(options):
        model, info = train_classifier(
            train, digits.val, digits.num_classes, cfg, seed=0, progress=False, acceleration=options
        )
        return model, info

    ref, ref_info = run(None)
    for options in (COMPILED, TF32):
        model, info = run(options)
        assert torch.equal(_weights(ref), _weights(model)), options
    model, info = run(dataclasses.replace(BF16, channels_last=True))
    assert not torch.equal(_weights(ref), _weights(model))
    assert info["val_accuracy"] == pytest.approx(ref_info["val_accuracy"], abs=0.1)
    assert info["history"][-1]["loss"] == pytest.approx(ref_info["history"][-1]["loss"], rel=0.1)
