"""What TensorBoard shows of the data and the model, read back from the event files of real runs:
a digits classifier shows everything; a language model and a regression table run without the
views that do not apply to them."""

import csv
from pathlib import Path
from types import SimpleNamespace

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tuneforge.callbacks._tensorboard import class_names

from ..conftest import PENGUINS, SHAKESPEARE, compose_config

pytestmark = pytest.mark.slow

NEW_VIEWS = {
    "data_report",
    "model_graph",
    "training_images",
    "misclassified_images",
    "confusion_matrix",
    "pr_curves",
    "embeddings",
}
# One epoch of three batches, the whole test split (360 digits), no progress bar.
QUICK = [
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=3",
    "trainer.limit_val_batches=1",
    "trainer.log_every_n_steps=1",
    "callbacks.progress_bar.refresh_rate=0",
]


def _train(run_dir: Path, overrides: list[str]) -> dict:
    from tuneforge.cli import train

    return train.run(compose_config("train", overrides), run_dir)


def _events(run_dir: Path) -> EventAccumulator:
    events = EventAccumulator(
        str(run_dir / "tensorboard"), size_guidance={"images": 0, "tensors": 0, "histograms": 0}
    )
    events.Reload()
    return events


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory) -> SimpleNamespace:
    """The default CNN on digits, with weight and gradient histograms at every step."""
    run_dir = tmp_path_factory.mktemp("digits") / "run"
    overrides = [
        "callbacks=[default,histograms]",
        "callbacks.weight_histograms.every_n_steps=1",
        *QUICK,
    ]
    metrics = _train(run_dir, overrides)
    return SimpleNamespace(run_dir=run_dir, metrics=metrics, events=_events(run_dir))


def _confusion_csv(run_dir: Path) -> tuple[list[str], list[list[int]]]:
    with open(run_dir / "confusion_matrix.csv", newline="") as handle:
        header, *rows = list(csv.reader(handle))
    return header, [[int(count) for count in row[1:]] for row in rows]


def test_views_are_on_by_default_and_histograms_are_not():
    callbacks = compose_config().callbacks
    assert set(callbacks) >= NEW_VIEWS and "weight_histograms" not in callbacks
    assert (
        "weight_histograms" in compose_config("train", ["callbacks=[default,histograms]"]).callbacks
    )


def test_graph_and_a_grid_of_the_first_training_batch(digits_run):
    tags = digits_run.events.Tags()
    assert tags["graph"]
    assert "data/cleaning/text_summary" not in tags["tensors"]  # digits need no cleaning
    (grid,) = digits_run.events.Images("data/train_images")
    # 64 digits of 8x8 enlarged to 32x32, in 8 rows of 8 with 2 pixels between tiles
    assert (grid.width, grid.height, grid.step) == (274, 274, 0)


def test_confusion_matrix_counts_every_test_image_once(digits_run):
    from tuneforge.data import DigitsDataModule

    data = DigitsDataModule()
    data.setup("test")
    header, counts = _confusion_csv(digits_run.run_dir)
    assert header == ["true", *(str(digit) for digit in range(10))]
    total = sum(map(sum, counts))
    assert total == len(data.test_dataloader().dataset) == 360
    correct = sum(counts[i][i] for i in range(10))
    assert correct / total == pytest.approx(digits_run.metrics["test/acc"], abs=1e-6)


def test_confusion_matrix_image_and_per_class_table(digits_run):
    (image,) = digits_run.events.Images("test/confusion_matrix")
    assert image.width > 400 and image.height > 400
    (table,) = digits_run.events.Tensors("test/per_class/text_summary")
    text = table.tensor_proto.string_val[0].decode()
    assert text.startswith("| class | precision | recall | F1 | support |")
    assert len(text.splitlines()) == 2 + 10


def test_pr_curve_per_class_counts_that_class_at_the_lowest_threshold(digits_run):
    _, counts = _confusion_csv(digits_run.run_dir)
    for digit in range(10):
        (curve,) = digits_run.events.Tensors(f"test/pr_curve/{digit}")
        # rows: true positives, false positives, true negatives, false negatives, precision,
        # recall; at threshold 0 every image is predicted positive
        values = curve.tensor_proto.float_val
        assert list(curve.tensor_proto.tensor_shape.dim)[1].size == 127
        assert values[0] == sum(counts[digit])  # true positives: all of the class
        assert values[0] + values[127] == 360  # and false positives: all the others


def test_worst_misclassified_images_are_shown(digits_run):
    assert digits_run.metrics["test/acc"] < 1.0  # three training steps leave errors to show
    (figure,) = digits_run.events.Images("test/misclassified")
    assert figure.width > 400


def test_test_embeddings_with_labels_and_thumbnails_in_the_projector(digits_run):
    tensorboard = digits_run.run_dir / "tensorboard"
    config = (tensorboard / "projector_config.pbtxt").read_text()
    assert "tensors.tsv" in config and "metadata.tsv" in config and "sprite.png" in config
    (folder,) = (path.parent for path in tensorboard.glob("*/*/tensors.tsv"))
    vectors = (folder / "tensors.tsv").read_text().splitlines()
    labels = (folder / "metadata.tsv").read_text().splitlines()
    assert len(vectors) == len(labels) == 360  # under the 1,000-point cap: the whole test set
    assert len(vectors[0].split("\t")) == 64  # the CNN's pooled features
    assert set(labels) == {str(digit) for digit in range(10)}
    assert (folder / "sprite.png").stat().st_size > 0


def test_weight_and_gradient_histograms_with_callbacks_histograms(digits_run):
    histograms = digits_run.events.Tags()["histograms"]
    assert "weights/head.fc.weight" in histograms
    assert "gradients/head.fc.weight" in histograms
    assert [event.step for event in digits_run.events.Histograms("weights/head.fc.weight")] == [
        0,
        1,
        2,
    ]


def test_class_names_come_from_the_data_else_indices():
    named = SimpleNamespace(datamodule=SimpleNamespace(spec={"class_names": ("cat", "dog")}))
    assert class_names(named, 2) == ["cat", "dog"]
    assert class_names(SimpleNamespace(datamodule=None), 3) == ["0", "1", "2"]


def test_a_language_model_run_shows_no_classifier_views(tmp_path):
    text = tmp_path / "shakespeare.txt"
    text.write_text(SHAKESPEARE.read_text(encoding="utf-8")[:20_000], encoding="utf-8")
    run_dir = tmp_path / "run"
    overrides = [
        "experiment=gpt_shakespeare_char",
        f"data.path={text}",
        "model.n_layer=1",
        "model.n_embd=32",
        "data.batches_per_epoch=3",
        "trainer.max_steps=3",
        "trainer.limit_test_batches=2",
        *QUICK,
    ]
    metrics = _train(run_dir, overrides)
    assert metrics["steps"] == 3
    tags = _events(run_dir).Tags()
    assert tags["images"] == []
    assert not any(tag.startswith("test/pr_curve") for tag in tags["tensors"])
    assert not (run_dir / "confusion_matrix.csv").exists()
    assert not (run_dir / "tensorboard" / "projector_config.pbtxt").exists()


def test_a_regression_table_gets_embeddings_labelled_by_value_and_no_image_views(tmp_path):
    run_dir = tmp_path / "run"
    overrides = [
        "data=csv",
        f"data.path={PENGUINS}",
        "data.target=body_mass_g",
        "model=mlp",
        "task=regression",
        "monitor.metric=val/mse",
        "monitor.mode=min",
        *QUICK,
    ]
    _train(run_dir, overrides)
    events = _events(run_dir)
    tags = events.Tags()
    assert tags["images"] == [] and tags["graph"]
    (report,) = events.Tensors("data/cleaning/text_summary")
    text = report.tensor_proto.string_val[0].decode()
    assert "bill_length_mm" in text and '"missing_numeric"' in text
    assert not (run_dir / "confusion_matrix.csv").exists()
    (labels,) = (run_dir / "tensorboard").glob("*/*/metadata.tsv")
    masses = [float(value) for value in labels.read_text().splitlines()]
    assert all(2000 < mass < 7000 for mass in masses)  # grams


def test_a_confusion_csv_that_fails_midway_leaves_no_file(tmp_path):
    import torch

    from tuneforge.callbacks.confusion_matrix import write_confusion_csv

    with pytest.raises(ValueError):  # three rows of counts for two names: fails after the header
        write_confusion_csv(tmp_path / "confusion_matrix.csv", torch.eye(3, dtype=int), ["a", "b"])
    assert list(tmp_path.iterdir()) == []
