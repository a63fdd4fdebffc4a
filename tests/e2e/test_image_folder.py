"""Users' own images, a folder per class: train, then predict a folder of new images by name."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ..conftest import run_tuneforge
from .conftest import read_metrics

pytestmark = pytest.mark.slow


def write_digit_images(root, digits, labels, names=None) -> None:
    """Real handwritten digits as 16x16 PNGs, in a folder per class (or flat, when named)."""
    for i, (image, label) in enumerate(zip(digits, labels, strict=True)):
        folder = root if names else root / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        pixels = (image * 255 / 16).astype(np.uint8)
        name = names[i] if names else f"{i}.png"
        Image.fromarray(pixels).resize((16, 16)).save(folder / name)


def test_train_on_a_folder_then_predict_new_files(tmp_path):
    from sklearn.datasets import load_digits

    digits = load_digits()
    keep = np.isin(digits.target, [0, 1, 7])
    images, labels = digits.images[keep], digits.target[keep]
    write_digit_images(tmp_path / "train_images", images[:450], labels[:450])
    names = [f"new_{i:02d}.png" for i in range(12)]
    write_digit_images(tmp_path / "new", images[450:462], labels[450:462], names)
    (tmp_path / "train_images" / "0" / "notes.txt").write_text("not an image")

    run = tmp_path / "run"
    result = run_tuneforge(
        "train",
        "data=image_folder",
        "data.root=train_images",
        "data.image_size=16",
        "data.channels=1",
        "trainer.max_epochs=5",
        f"hydra.run.dir={run}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert read_metrics(run)["test/acc"] >= 0.9
    assert "skipped" in (run / "data_report.json").read_text()

    predicted = run_tuneforge(
        "predict",
        f"ckpt_path={run}",
        "predict.input=new",
        f"hydra.run.dir={tmp_path / 'pr'}",
        cwd=tmp_path,
    )
    assert predicted.returncode == 0, predicted.stderr
    frame = pd.read_csv(tmp_path / "pr" / "predictions.csv")
    assert [f.rsplit("/", 1)[-1] for f in frame["file"]] == names
    assert (frame["label"].astype(int).to_numpy() == labels[450:462]).mean() >= 0.8
