"""A folder of the user's images: layouts, splits, damaged files, statistics, state, new inputs."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tuneforge.data import image_folder
from tuneforge.data.image_folder import ImageFolderDataModule, load_image

# (mode, suffix) in turn: JPEG holds only RGB and grey; PNG the alpha and palette modes.
KINDS = (("RGB", ".jpg"), ("L", ".JPEG"), ("RGBA", ".png"), ("P", ".png"))


def write_image(path: Path, seed: int, mode: str = "RGB", size: tuple[int, int] = (12, 9)) -> None:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    image = Image.fromarray(pixels, "RGB").convert(mode)
    image.save(path, **({"transparency": 0} if mode == "P" else {}))


def write_class(folder: Path, count: int, seed: int = 0) -> None:
    """`count` images of every mode, of sizes from 12x9 upward, wider and taller ones."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        mode, suffix = KINDS[i % len(KINDS)]
        size = (12 + i, 9 + 2 * i) if i % 2 else (20 + i, 10)
        write_image(folder / f"img{i:02d}{suffix}", seed * 100 + i, mode, size)


@pytest.fixture
def flat_root(tmp_path) -> Path:
    """cat, dog, owl: 10 images each, one damaged image, one text file, hidden files."""
    root = tmp_path / "pets"
    for seed, name in enumerate(("cat", "dog", "owl")):
        write_class(root / name, 10, seed)
    (root / "cat" / "broken.jpg").write_bytes(np.random.default_rng(0).bytes(300))
    (root / "dog" / "notes.txt").write_text("taken in the garden")
    (root / "cat" / ".DS_Store").write_bytes(b"\0\1")
    write_class(root / "owl" / ".thumbnails", 2)
    return root


@pytest.fixture
def split_root(tmp_path) -> Path:
    """train/ (cat, dog: 10 each) and val/ (cat, dog: 3 each, all white); no test/."""
    root = tmp_path / "split"
    for seed, name in enumerate(("cat", "dog")):
        write_class(root / "train" / name, 10, seed)
        (root / "val" / name).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (16, 16), "white").save(root / "val" / name / f"white{i}.png")
    return root


def make(root: Path, **kwargs) -> ImageFolderDataModule:
    kwargs = {"image_size": 8, "batch_size": 8, "val_fraction": 0.2, "test_fraction": 0.2} | kwargs
    dm = ImageFolderDataModule(root=str(root), **kwargs)
    dm.setup()
    return dm


def test_flat_layout_loaders_give_standardized_square_images(flat_root):
    dm = make(flat_root)
    assert dm.class_names == ("cat", "dog", "owl")
    assert dm.spec == {
        "input_shape": (3, 8, 8),
        "num_classes": 3,
        "class_names": ("cat", "dog", "owl"),
    }
    batches = list(dm.train_dataloader())
    x, y = batches[0]
    assert x.shape == (8, 3, 8, 8) and x.dtype == torch.float32 and y.dtype == torch.int64
    pixels = torch.cat([x for x, _ in batches])  # the whole training split: its own statistics
    assert pixels.mean(dim=(0, 2, 3)).abs().max() < 1e-4
    assert (pixels.std(dim=(0, 2, 3)) - 1).abs().max() < 0.01
    grey = make(flat_root, channels=1)
    assert next(iter(grey.val_dataloader()))[0].shape == (6, 1, 8, 8)


def test_split_is_stratified_and_fixed_by_the_split_seed(flat_root):
    dm = make(flat_root)
    each = {"cat": 2, "dog": 2, "owl": 2}
    assert dm.report["classes"] == {
        "train": {"cat": 6, "dog": 6, "owl": 6},
        "val": each,
        "test": each,
    }
    assert dm.report["layout"] == "class folders"
    assert dm.report["held_out_of_train"] == ["val", "test"]
    files = {name: set(split.files) for name, split in dm.splits.items()}
    assert not files["train"] & files["val"] and not files["val"] & files["test"]
    assert {name: split.files for name, split in make(flat_root).splits.items()} == {
        name: split.files for name, split in dm.splits.items()
    }
    assert make(flat_root, split_seed=1).splits["val"].files != dm.splits["val"].files
    val_labels = torch.cat([y for _, y in dm.val_dataloader()])
    assert torch.equal(dm.labels("val"), val_labels)
    assert dm.labels("val").tolist() == [0, 0, 1, 1, 2, 2]


def test_kept_class_folders_are_relabelled_and_the_training_split_sampled(flat_root, split_root):
    dm = make(flat_root, classes=["owl", 0], train_size=4)
    assert dm.spec["class_names"] == ("owl", "cat") and dm.spec["num_classes"] == 2
    assert dm.report["classes"] == {
        "train": {"owl": 2, "cat": 2},  # 4 of the 12 the split left, per class
        "val": {"owl": 2, "cat": 2},
        "test": {"owl": 2, "cat": 2},
    }
    assert all(path.parent.name == "owl" for path in dm.splits["val"].files[:2])
    assert set(dm.splits["train"].files) < set(
        make(flat_root, classes=["owl", 0]).splits["train"].files
    )
    kept = make(split_root, classes=["dog"])  # a val/ folder's other classes are left out too
    assert kept.report["images"] == {"train": 8, "val": 3, "test": 2}


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ({"classes": ["fox"]}, "'fox' is not a class of this dataset; set data.classes to"),
        ({"train_size": 19}, "train_size=19 is more than the 18 images of the training split"),
        ({"classes": ["cat", "dog"], "train_size": 1}, "train_size=1 is fewer than the 2 classes"),
    ],
)
def test_class_choices_the_folder_cannot_meet_are_one_line(flat_root, arguments, fragment):
    with pytest.raises(ValueError) as error:
        make(flat_root, **arguments)
    assert fragment in str(error.value) and "\n" not in str(error.value)


def test_report_counts_what_was_left_out(flat_root):
    report = make(flat_root).report
    assert report["skipped_not_image"] == 1  # notes.txt; hidden files are not counted
    assert report["unreadable"] == 1
    assert report["unreadable_files"] == ["cat/broken.jpg"]
    assert report["images"] == {"train": 18, "val": 6, "test": 6}


def test_strict_refuses_the_damaged_file(flat_root):
    with pytest.raises(ValueError, match=r"data\.strict=false") as error:
        make(flat_root, strict=True)
    assert str(flat_root / "cat" / "broken.jpg") in str(error.value)


def test_split_folders_are_kept_and_a_missing_test_is_held_out_of_train(split_root):
    dm = make(split_root)
    val_folder = sorted((split_root / "val").rglob("*.png"))
    assert dm.splits["val"].files == val_folder
    assert dm.report["classes"]["test"] == {"cat": 2, "dog": 2}  # 0.2 of train/'s 10 per class
    assert dm.report["classes"]["train"] == {"cat": 8, "dog": 8}
    assert all(path.parent.parent.name == "train" for path in dm.splits["test"].files)
    assert dm.report["layout"] == "split folders" and dm.report["held_out_of_train"] == ["test"]


def test_statistics_come_from_the_training_split_only(split_root):
    dm = make(split_root)
    train = torch.stack([load_image(path, 8, 3) for path in dm.splits["train"].files]) / 255
    every = [*dm.splits["train"].files, *dm.splits["val"].files, *dm.splits["test"].files]
    pooled = torch.stack([load_image(path, 8, 3) for path in every]) / 255
    expected = train.double().mean(dim=(0, 2, 3))
    assert abs(pooled.mean() - expected.mean()) > 0.02  # the white val images would show
    assert dm.mean == pytest.approx(expected.tolist(), abs=1e-6)
    assert dm.std == pytest.approx(train.double().std(dim=(0, 2, 3)).tolist(), abs=1e-3)


def test_statistics_read_a_seeded_sample_of_at_most_the_cap(flat_root, monkeypatch):
    calls = []

    def counting_load(path, size, channels):
        calls.append(path)
        return load_image(path, size, channels)

    monkeypatch.setattr(image_folder, "MAX_STATISTICS_IMAGES", 5)
    monkeypatch.setattr(image_folder, "load_image", counting_load)
    dm = make(flat_root)
    assert len(calls) == 5 and set(calls) <= set(dm.splits["train"].files)
    first = list(calls)
    calls.clear()
    make(flat_root)
    assert calls == first


def test_train_transforms_see_uint8_training_images_only(flat_root):
    seen = []

    def blank(image: torch.Tensor) -> torch.Tensor:
        seen.append((image.dtype, tuple(image.shape)))
        return torch.zeros_like(image)

    dm = make(flat_root, train_transforms=[blank])
    x, _ = next(iter(dm.train_dataloader()))
    assert seen[0] == (torch.uint8, (3, 8, 8))
    assert torch.allclose(x, x[0, :, 0, 0].view(1, 3, 1, 1).expand_as(x))  # every pixel blank
    assert next(iter(dm.val_dataloader()))[0].std() > 0.5


def test_load_image_resizes_the_short_side_and_crops_the_centre(tmp_path):
    thirds = np.zeros((10, 30, 3), dtype=np.uint8)
    thirds[:, :10, 0] = thirds[:, 10:20, 1] = thirds[:, 20:, 2] = 255  # red, green, blue
    Image.fromarray(thirds).save(tmp_path / "wide.png")
    image = load_image(tmp_path / "wide.png", 8, 3)
    assert image.shape == (3, 8, 8) and image.dtype == torch.uint8
    assert image[1].min() > 200 and image[0].max() < 50 and image[2].max() < 50  # all green
    assert load_image(tmp_path / "wide.png", 8, 1).shape == (1, 8, 8)


def test_state_round_trip_is_plain_data_and_used_instead_of_recomputing(flat_root, tmp_path):
    dm = make(flat_root)
    torch.save(dm.state_dict(), tmp_path / "state.pt")
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    assert state == {"mean": dm.mean, "std": dm.std, "class_names": ["cat", "dog", "owl"]}
    state["mean"] = [0.25, 0.5, 0.75]
    restored = ImageFolderDataModule(root=str(flat_root), image_size=8)
    restored.load_state_dict(state)
    assert restored.class_names == ("cat", "dog", "owl")  # known before setup
    restored.setup()
    assert restored.mean == [0.25, 0.5, 0.75]
    other = ImageFolderDataModule(root=str(flat_root))
    other.load_state_dict(state | {"class_names": ["cat", "dog"]})
    with pytest.raises(ValueError, match=r"\['cat', 'dog', 'owl'\].*\['cat', 'dog'\]"):
        other.setup()


def test_read_inputs_transforms_a_file_and_a_folder_like_the_test_split(flat_root, tmp_path):
    dm = make(flat_root)
    path = dm.splits["test"].files[0]
    (x,) = next(iter(dm.read_inputs(path)))
    assert torch.equal(x[0], dm.splits["test"][0][0])
    folder = tmp_path / "new"
    write_class(folder, 3)
    (folder / "readme.txt").write_text("three new images")
    loader = dm.read_inputs(folder)
    assert [p.name for p in loader.dataset.files] == ["img00.jpg", "img01.JPEG", "img02.png"]
    batch = next(iter(loader))
    assert len(batch) == 1 and batch[0].shape == (3, 3, 8, 8)
    with pytest.raises(FileNotFoundError, match=r"missing\.png"):
        dm.read_inputs(tmp_path / "missing.png")
    with pytest.raises(ValueError, match=r"broken\.jpg"):
        dm.read_inputs(flat_root / "cat" / "broken.jpg")


def folder_errors(tmp_path: Path) -> list[tuple[Path, type, str]]:
    """(root, error, what its message names) for each kind of unusable folder."""
    missing, empty, hollow, stray, orphan, few = (tmp_path / n for n in "abcdef")
    empty.mkdir()
    write_class(hollow / "cat", 4)
    (hollow / "dog").mkdir()
    (hollow / "dog" / "list.txt").write_text("no images yet")
    write_class(stray / "train" / "cat", 4)
    write_class(stray / "test" / "cow", 2)
    write_class(orphan / "val" / "cat", 2)
    write_class(few / "cat", 2)
    write_class(few / "dog", 2)
    return [
        (missing, FileNotFoundError, f"data.root '{missing}' is not a folder"),
        (empty, ValueError, f"no class folders in '{empty}': put each class's images in {empty}/"),
        (hollow, ValueError, f"class folder '{hollow / 'dog'}' holds no readable images"),
        (stray, ValueError, f"class folder '{stray / 'test' / 'cow'}' has no match"),
        (orphan, ValueError, f"'{orphan / 'val'}' has no train/ beside it"),
        (few, ValueError, f"cannot split the 4 training images of '{few}' by class"),
    ]


def test_every_unusable_folder_gets_one_line_naming_it_and_the_fix(tmp_path):
    for root, error, names in folder_errors(tmp_path):
        with pytest.raises(error) as raised:
            make(root)
        message = str(raised.value)
        assert names in message and "\n" not in message, message
    (tmp_path / "g" / "train").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"no class folders in .*train"):
        make(tmp_path / "g")


@pytest.mark.parametrize(
    ("argument", "value", "allowed"),
    [
        ("channels", 2, "1 (grey) or 3 (RGB)"),
        ("image_size", 0, "an integer >= 1"),
        ("batch_size", 2.5, "an integer >= 1"),
        ("num_workers", -1, "an integer >= 0"),
        ("num_workers", "all", "or auto"),
        ("num_workers", 1.5, "or auto"),
        ("num_workers", True, "or auto"),
        ("strict", "yes", "true or false"),
        ("mean", [0.5, 0.5], "3 numbers"),
        ("std", [0.2, 0.0, 0.2], "a list of numbers > 0"),
        ("mean", "0.5", "a list of numbers"),
        ("val_fraction", 0.0, "val_fraction > 0"),
        ("classes", "cat", "a non-empty list of class indices or names"),
        ("train_size", 0, "an integer >= 1, or null"),
    ],
)
def test_bad_arguments_name_the_argument_value_and_what_is_allowed(argument, value, allowed):
    statistics = {"mean": [0.5] * 3, "std": [0.2] * 3}
    kwargs = (statistics if argument in statistics else {}) | {argument: value}
    with pytest.raises(ValueError) as error:
        ImageFolderDataModule(root="images", **kwargs)
    assert f"{argument}={value!r}" in str(error.value) and allowed in str(error.value)


@pytest.mark.parametrize(("mean", "std"), [([0.5] * 3, None), ([], []), ([0.5], [0.2])])
def test_statistics_need_one_number_per_channel_for_both(mean, std):
    with pytest.raises(ValueError, match=r"with channels=3; give 3 numbers each, or None for both"):
        ImageFolderDataModule(root="images", mean=mean, std=std)
