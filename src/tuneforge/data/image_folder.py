"""A folder of the user's own images as a LightningDataModule, one subfolder per class.

Two layouts. `root/<class>/...`: the images are split into train, val and test by a seeded split
stratified by class. `root/train/<class>/...` with optional `root/val/<class>/...` and
`root/test/<class>/...`: those folders are the splits, and a missing val/ or test/ is held out of
train/ by its fraction. A `train` subfolder of root always means the second layout.

Every file is checked once in setup() with PIL's `verify()`, which parses the file without
decoding its pixels, so that a damaged file is counted (or refused with `strict=True`) before
training instead of crashing an epoch. Pixels are decoded per sample, so a folder need not fit in
memory.
"""

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms.v2 import functional as TF

from tuneforge.data._images import Standardize
from tuneforge.data._tensors import check_fractions, stratified_split

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
MODES = {1: "L", 3: "RGB"}
HELD_OUT = ("val", "test")
# Setup stays a few seconds on any folder; 2,000 images pin per-channel statistics to about 1%.
MAX_STATISTICS_IMAGES = 2_000
SHOWN_UNREADABLE = 5


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "root": (lambda v: isinstance(v, str | Path) and str(v) != "", "a folder of class folders"),
    "image_size": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "channels": (lambda v: _is_int(v) and v in MODES, "1 (grey) or 3 (RGB)"),
    "batch_size": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "split_seed": (_is_int, "an integer"),
    "num_workers": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "strict": (lambda v: isinstance(v, bool), "true or false"),
}


def load_image(path: Path, image_size: int, channels: int) -> torch.Tensor:
    """One image file -> uint8 (channels, image_size, image_size): short side resized, centre
    cropped, so that images of any size and shape batch together."""
    with Image.open(path) as image:
        image.draft(MODES[channels], (image_size, image_size))  # JPEG: decode at a reduced scale
        image = ImageOps.exif_transpose(image)  # phone photos: upright, as a viewer shows them
        if image.mode == "P":  # palette transparency converts cleanly only through RGBA
            image = image.convert("RGBA")
        image = image.convert(MODES[channels])  # alpha is dropped
    image = TF.resize(image, [image_size])  # one size: the short side
    return TF.pil_to_tensor(TF.center_crop(image, [image_size, image_size]))


def _readable(path: Path) -> bool:
    try:
        with Image.open(path) as image:
            image.verify()
    except Exception:  # PIL raises OSError, SyntaxError, ValueError... for damaged files
        return False
    return True


def _hidden(path: Path, folder: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(folder).parts)


def _subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


class ImageFileDataset(Dataset):
    """Images decoded from their files on each access, as (image, label) or, without labels,
    as 1-tuples (image,) like a TensorDataset of inputs. `files` keeps the order."""

    def __init__(
        self,
        files: Sequence[Path],
        labels: torch.Tensor | None,
        image_size: int,
        channels: int,
        transforms: Sequence[Callable[[torch.Tensor], torch.Tensor]] = (),
    ) -> None:
        self.files = list(files)
        self.labels = labels
        self.image_size = image_size
        self.channels = channels
        self.transforms = list(transforms)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        x = load_image(self.files[index], self.image_size, self.channels)
        for transform in self.transforms:
            x = transform(x)
        return (x,) if self.labels is None else (x, self.labels[index])


@dataclasses.dataclass
class _Scan:
    """Walks class folders: keeps the readable images, counts what it leaves out."""

    root: Path
    strict: bool
    skipped: int = 0
    unreadable: list[str] = dataclasses.field(default_factory=list)

    def classes(self, folder: Path) -> dict[str, list[Path]]:
        """Readable image files per class folder of `folder`, sorted by path."""
        classes = {sub.name: self.images(sub) for sub in _subfolders(folder)}
        if not classes:
            raise ValueError(
                f"no class folders in '{folder}': put each class's images in {folder}/<class>/"
            )
        return classes

    def images(self, folder: Path) -> list[Path]:
        """The readable images anywhere under `folder`, hidden files and folders left out."""
        found = []
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            if _hidden(path, folder):
                continue
            if path.suffix.lower() not in IMAGE_EXTENSIONS:
                self.skipped += 1
            elif _readable(path):
                found.append(path)
            elif self.strict:
                raise ValueError(
                    f"'{path}' is not a readable image; replace or delete it, or set "
                    "data.strict=false to skip such files"
                )
            else:
                self.unreadable.append(path.relative_to(self.root).as_posix())
        return found


class ImageFolderDataModule(L.LightningDataModule):
    """Train, val and test splits of a folder of images, one subfolder per class.

    Class names are the sorted class folder names (of `root/train` in the split layout). Every
    image becomes uint8 (channels, image_size, image_size), then float32 standardized per channel.

    Args:
        root: the folder of class folders, or of train/ (and val/, test/) class folders.
        image_size: side of the square images: each is resized so its short side is this long,
            then centre cropped.
        channels: 1 (images converted to grey) or 3 (converted to RGB).
        batch_size: images per batch, for every split.
        val_fraction: share held out for validation, when there is no val/ folder.
        test_fraction: share held out for the test, when there is no test/ folder.
        split_seed: seed of the split (and of the statistics' sample), apart from the training
            seed.
        num_workers: data loader worker processes (0: load in the main process).
        strict: raise on the first file with an image extension that PIL cannot read, instead of
            skipping and counting it.
        mean, std: per-channel statistics of [0, 1] pixels. None: computed from the training
            split; from a sample of at most 2,000 of its images, chosen with `split_seed`, so
            that setup stays fast on a large folder.
        train_transforms: callables applied to each uint8 training image (augmentation).
    """

    def __init__(
        self,
        root: str,
        image_size: int = 64,
        channels: int = 3,
        batch_size: int = 64,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        split_seed: int = 0,
        num_workers: int = 0,
        strict: bool = False,
        mean: list[float] | None = None,
        std: list[float] | None = None,
        train_transforms: Sequence[Callable[[torch.Tensor], torch.Tensor]] = (),
    ) -> None:
        super().__init__()
        arguments = locals()
        for name, (ok, allowed) in RULES.items():
            if not ok(arguments[name]):
                raise ValueError(f"{name}={arguments[name]!r} is not allowed; it must be {allowed}")
        check_fractions(val_fraction, test_fraction)
        _check_statistics(mean, std, channels)
        self.root = Path(root)
        self.image_size, self.channels = image_size, channels
        self.batch_size, self.num_workers = batch_size, num_workers
        self.fractions = {"val": val_fraction, "test": test_fraction}
        self.split_seed = split_seed
        self.strict = strict
        self.mean = [float(v) for v in mean] if mean is not None else None
        self.std = [float(v) for v in std] if std is not None else None
        self.train_transforms = list(train_transforms)
        self.splits: dict[str, ImageFileDataset] = {}
        self._class_names: list[str] | None = None  # from the folders, or a loaded state
        self._report: dict[str, Any] = {}

    @property
    def spec(self) -> dict:
        """What the model and the task need to know about this data."""
        shape = (self.channels, self.image_size, self.image_size)
        return {"input_shape": shape, "num_classes": len(self.class_names)}

    @property
    def class_names(self) -> tuple[str, ...]:
        """Names of the classes in the order of their indices."""
        if self._class_names is None:
            raise RuntimeError("ImageFolderDataModule: call setup() or load_state_dict() first")
        return tuple(self._class_names)

    @property
    def report(self) -> dict:
        """What setup() found: images per split and class, files skipped as not images, and
        unreadable ones (the first few by path under root). Plain data, ready for json.dump."""
        if not self._report:
            raise RuntimeError("ImageFolderDataModule: call setup() first")
        return self._report

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        scan = _Scan(self.root, self.strict)
        found = self._find(scan)
        names = sorted(found["train"])
        if self._class_names is not None and self._class_names != names:
            raise ValueError(
                f"class folders {names} of '{self.root}' differ from the trained classes "
                f"{self._class_names}; point data.root at a folder with the trained classes"
            )
        self._class_names = names
        parts = self._split(found)
        if self.mean is None or self.std is None:
            self.mean, self.std = self._statistics(parts["train"][0])
        standardize = Standardize(self.mean, self.std)
        for name, (files, labels) in parts.items():
            augment = self.train_transforms if name == "train" else []
            self.splits[name] = ImageFileDataset(
                files, labels, self.image_size, self.channels, [*augment, standardize]
            )
        self._report = self._make_report(found, scan)

    def _train_folder(self) -> Path:
        """root/train in the split layout, else root."""
        return self.root / "train" if (self.root / "train").is_dir() else self.root

    def _find(self, scan: _Scan) -> dict[str, dict[str, list[Path]]]:
        """Readable images per split folder present (the flat layout's is "train") and class."""
        if not self.root.is_dir():
            raise FileNotFoundError(
                f"data.root '{self.root}' is not a folder; set data.root to the folder that "
                "holds one subfolder of images per class"
            )
        train = self._train_folder()
        present = [s for s in ("train", *HELD_OUT) if (self.root / s).is_dir()]
        if train == self.root and present:  # val/ or test/ without train/: not class names
            raise ValueError(
                f"'{self.root / present[0]}' has no '{self.root / 'train'}' beside it: put the "
                f"training images in {self.root / 'train'}/<class>/"
            )
        found = {s: scan.classes(self.root / s) for s in present} or {"train": scan.classes(train)}
        for name, files in found["train"].items():
            if not files:
                raise ValueError(
                    f"class folder '{train / name}' holds no readable images "
                    f"({' '.join(IMAGE_EXTENSIONS)}); add some, or remove the folder"
                )
        for split in HELD_OUT:
            for name in sorted(set(found.get(split, {})) - set(found["train"])):
                raise ValueError(
                    f"class folder '{self.root / split / name}' has no match in '{train}': add "
                    f"its training images to {train / name}/, or remove it"
                )
        return found

    def _split(self, found: dict) -> dict[str, tuple[list[Path], torch.Tensor]]:
        """Files and labels of each split: its folder's, or held out of train by its fraction."""
        files, labels = self._flatten(found["train"])
        held = {s: f for s, f in self.fractions.items() if s not in found and f > 0}
        try:
            indices = _hold_out(labels, held, self.split_seed)
        except ValueError as ex:  # scikit-learn: too few images of a class for the fractions
            raise ValueError(
                f"cannot split the {len(files)} training images of '{self.root}' by class with "
                f"{', '.join(f'{s}_fraction={f}' for s, f in held.items())} "
                f"({str(ex).splitlines()[0]}); add images to the smallest classes, or put "
                "them in val/ and test/ folders"
            ) from ex
        parts = {
            s: ([files[i] for i in idx], torch.from_numpy(labels[idx]))
            for s, idx in indices.items()
        }
        for split in HELD_OUT:
            if split in found:
                split_files, split_labels = self._flatten(found[split])
                parts[split] = (split_files, torch.from_numpy(split_labels))
            parts.setdefault(split, ([], torch.zeros(0, dtype=torch.int64)))
        return parts

    def _flatten(self, classes: dict[str, list[Path]]) -> tuple[list[Path], np.ndarray]:
        """All files of a split in class order, and their int64 labels."""
        index = {name: i for i, name in enumerate(self.class_names)}
        files = [path for name in classes for path in classes[name]]
        labels = [index[name] for name in classes for _ in classes[name]]
        return files, np.asarray(labels, dtype=np.int64)

    def _statistics(self, files: list[Path]) -> tuple[list[float], list[float]]:
        """Per-channel mean and std of [0, 1] pixels over a seeded sample of training images."""
        rng = np.random.default_rng(self.split_seed)
        count = min(len(files), MAX_STATISTICS_IMAGES)
        chosen = np.sort(rng.choice(len(files), size=count, replace=False))
        total = torch.zeros(self.channels, dtype=torch.float64)
        squares = torch.zeros(self.channels, dtype=torch.float64)
        for i in chosen:  # running sums: a sample of large images need not fit in memory
            pixels = load_image(files[i], self.image_size, self.channels).double() / 255
            total += pixels.sum(dim=(1, 2))
            squares += pixels.square().sum(dim=(1, 2))
        n = count * self.image_size**2
        mean = total / n
        # A flat channel (all images one colour) would otherwise divide by zero.
        std = (squares / n - mean.square()).clamp_min(0).sqrt().clamp_min(1e-6)
        return mean.tolist(), std.tolist()

    def _make_report(self, found: dict, scan: _Scan) -> dict[str, Any]:
        classes = {
            split: dict(
                zip(
                    self.class_names,
                    data.labels.bincount(minlength=len(self.class_names)).tolist(),
                    strict=True,
                )
            )
            for split, data in self.splits.items()
        }
        return {
            "root": str(self.root),
            "layout": "class folders" if self._train_folder() == self.root else "split folders",
            "held_out_of_train": [s for s in HELD_OUT if s not in found and self.fractions[s] > 0],
            "class_names": list(self.class_names),
            "images": {split: len(data) for split, data in self.splits.items()},
            "classes": classes,
            "skipped_not_image": scan.skipped,
            "unreadable": len(scan.unreadable),
            "unreadable_files": scan.unreadable[:SHOWN_UNREADABLE],
        }

    def _loader(self, dataset: Dataset, shuffle: bool = False) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.splits["train"], shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.splits["val"])

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.splits["test"])

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.splits["test"])

    def labels(self, split: str) -> torch.Tensor:
        """The true labels of a split, in loader order (used to write predictions)."""
        return self.splits[split].labels

    def read_inputs(self, path: str | Path) -> DataLoader:
        """A loader of 1-tuples (image,) over one image file, or over the images directly in a
        folder sorted by name (`loader.dataset.files`), transformed like the test split.

        Raises:
            FileNotFoundError: when the path does not exist.
            ValueError: when it holds no images, or one that PIL cannot read (skipping it would
                shift every later prediction onto the wrong file).
        """
        if self.mean is None or self.std is None:
            raise RuntimeError("ImageFolderDataModule: call setup() or load_state_dict() first")
        path = Path(path)
        if path.is_dir():
            files = sorted(
                p
                for p in path.iterdir()
                if p.is_file()
                and not p.name.startswith(".")
                and p.suffix.lower() in IMAGE_EXTENSIONS
            )
        elif path.is_file():
            files = [path]
        else:
            raise FileNotFoundError(f"predict.input '{path}' does not exist")
        if not files:
            raise ValueError(
                f"predict.input '{path}' holds no images ({' '.join(IMAGE_EXTENSIONS)})"
            )
        for file in files:
            if not _readable(file):
                raise ValueError(
                    f"predict.input: '{file}' is not a readable image; replace or remove it"
                )
        transforms = [Standardize(self.mean, self.std)]
        dataset = ImageFileDataset(files, None, self.image_size, self.channels, transforms)
        return DataLoader(dataset, batch_size=self.batch_size, num_workers=self.num_workers)

    def state_dict(self) -> dict:
        """Statistics and class names as plain data, so that eval and predict transform and name
        images as training did (and the checkpoint loads with weights_only=True)."""
        return {"mean": self.mean, "std": self.std, "class_names": self._class_names}

    def load_state_dict(self, state_dict: dict) -> None:
        self.mean, self.std = state_dict["mean"], state_dict["std"]
        self._class_names = list(state_dict["class_names"])


def _check_statistics(mean: Any, std: Any, channels: int) -> None:
    """Raises ValueError unless mean and std are both None or both one number per channel."""
    for name, values in (("mean", mean), ("std", std)):
        numbers = isinstance(values, Sequence) and not isinstance(values, str)
        numbers = numbers and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in values
        )
        if values is not None and not (
            numbers and len(values) == channels and (name == "mean" or min(values) > 0)
        ):
            positive = ", each > 0" if name == "std" else ""
            raise ValueError(
                f"{name}={values!r} is not allowed; it must be {channels} numbers (one per "
                f"channel){positive}, or None to compute it from the training split"
            )
    if (mean is None) != (std is None):
        raise ValueError(
            f"mean={mean!r} and std={std!r} are not allowed; give both, or neither (None: both "
            "computed from the training split)"
        )


def _hold_out(labels: np.ndarray, fractions: dict[str, float], seed: int) -> dict[str, np.ndarray]:
    """Indices of train and of each split in `fractions`, held out of it stratified by class."""
    if not fractions:
        return {"train": np.arange(len(labels))}
    (first, first_fraction), *rest = fractions.items()
    second_fraction = rest[0][1] if rest else 0.0
    train, held, second = stratified_split(labels, first_fraction, second_fraction, seed)
    return {"train": train, first: held} | ({rest[0][0]: second} if rest else {})
