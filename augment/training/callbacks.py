"""Per-epoch callbacks of the training loop that write files: progress grids and loss curves.

MLflow logging is a callback too, in :mod:`augment.tracking.runs`, so the library trains the same
with tracking on or off.
"""

from __future__ import annotations

from pathlib import Path

from augment.core.outputs import write_csv
from augment.models import ConditionalGenerator
from augment.sampling.grids import sample_grid, save_grid

GRID_COLUMNS = 10  # samples per class (row) in progress and sample grids


def grid_due(epoch: int, every: int, last_epoch: int | None) -> bool:
    """A progress grid is drawn every ``every`` epochs and after the last one."""
    return epoch % every == 0 or epoch == last_epoch


class ProgressGrid:
    """Every ``every`` epochs (and at the last), writes ``<folder>/epoch_NNN.png`` from a fixed
    noise batch: one row per class, the same codes at every epoch, as in dcgan's ``fixed_noise``."""

    def __init__(self, folder: str | Path, every: int = 1, seed: int = 0, last_epoch: int | None = None):
        self.folder = Path(folder)
        self.every = every
        self.seed = seed
        self.last_epoch = last_epoch
        self.written: list[Path] = []

    def on_epoch_end(self, model: ConditionalGenerator, epoch: int, losses: dict[str, float]) -> None:
        if grid_due(epoch, self.every, self.last_epoch):
            self._write(model, epoch)

    def on_resume(self, model: ConditionalGenerator, state) -> None:
        """The restored model is the model of the checkpoint's epoch: draw that epoch's grid if a
        kill between the checkpoint and this callback left it out."""
        epoch = state.epoch
        if (
            epoch
            and grid_due(epoch, self.every, self.last_epoch)
            and not (self.folder / f"epoch_{epoch:03d}.png").is_file()
        ):
            self._write(model, epoch)

    def _write(self, model: ConditionalGenerator, epoch: int) -> None:
        images = sample_grid(model, GRID_COLUMNS, self.seed)  # [K*10, C, H, W]
        path = self.folder / f"epoch_{epoch:03d}.png"
        tmp = path.with_name(f".{path.stem}.partial{path.suffix}")
        save_grid(images, tmp, GRID_COLUMNS)
        tmp.replace(path)  # never a half-written PNG, even when killed mid-write
        self.written.append(path)


class LossLog:
    """Rewrites ``path`` (CSV: epoch, then one column per loss) after every epoch, for DVC plots.

    A resumed run's rows come from the restored checkpoint's history (:meth:`on_resume`), the
    one record that is sure to match the weights; the file is never read back, so a damaged
    table is simply rewritten."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.rows: list[dict] = []

    def on_resume(self, model: ConditionalGenerator, state) -> None:
        self.rows = [{"epoch": i, **losses} for i, losses in enumerate(state.history, start=1)]

    def on_epoch_end(self, model: ConditionalGenerator, epoch: int, losses: dict[str, float]) -> None:
        self.rows = [r for r in self.rows if r["epoch"] < epoch] + [{"epoch": epoch, **losses}]
        write_csv(self.path, list(self.rows[-1]), self.rows)
