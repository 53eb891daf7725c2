"""How the files beside this script were made: by the library *before* its wings (commit
d030256, modules side by side under augment/), so that tests/test_checkpoint.py can check that
what users saved then still loads. Run it from the root of a checkout of that commit:

    git checkout d030256 && python tests/data/flat-layout/make.py

It writes a tiny CVAE checkpoint (cvae.pt), the same generator as an MLflow model folder
(mlflow-model/, whose MLmodel names the loader module augment.mlflow_model) and the images that
code drew from it (expected.pt: labels 0, 1, 2, 0 at seed 5).
"""

from pathlib import Path

import torch

from augment.checkpoint import save_generator  # the flat layout's module names
from augment.config import CVAEConfig
from augment.generation import sample_images
from augment.mlflow_model import save_model
from augment.models import build_model

OUT = Path(__file__).resolve().parent
torch.manual_seed(0)
model = build_model("cvae", CVAEConfig(latent_dim=4, width=8), (1, 8, 8), 3).eval()
save_generator(OUT / "cvae.pt", model, ["zero", "one", "two"])
save_model(OUT / "cvae.pt", OUT / "mlflow-model")
torch.save(sample_images(model, torch.tensor([0, 1, 2, 0]), seed=5), OUT / "expected.pt")
