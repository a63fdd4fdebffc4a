"""A folder of the user's own images as a LightningDataModule, one subfolder per class.

Two layouts. `root/<class>/...`: a seeded split, stratified by class, makes train, val and test.
`root/train/<class>/...` with optional `root/val/<class>/...` and `root/test/<class>/...`: those
folders are the splits, and a missing val/ or test/ is held out of train/ by its fraction. A
`train` subfolder of root always means the second layout.

setup() checks every file once with PIL's `verify()`, which parses a file without decoding its
pixels, so that a damaged file is counted (or refused with `strict=True`) before training rather
than crashing an epoch. Pixels are decoded per sample, so a folder need not fit in memory.
"""

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms.v2 import functional as TF

from tuneforge.data._args import WORKERS_RULE, ArgumentRules, Workers, check_arguments, is_int
from tuneforge.data._base import SplitsDataModule
from tuneforge.data._images import Standardize
from tuneforge.data.subset import CLASSES_RULE, TRAIN_SIZE_RULE, pick_classes, sample_per_class
from tuneforge.data.tensors import check_fractions, stratified_split

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
MODES = {1: "L", 3: "RGB"}
HELD_OUT = ("val", "test")
# Keeps setup to seconds on any folder; 2,000 images pin per-channel statistics to about 1%.
MAX_STATISTICS_IMAGES = 2_000
SHOWN_UNREADABLE = 5


def _numbers(value: Any, above: float = -float("inf")) -> bool:
    """Whether `value` is None or a list of numbers above `above` (per-channel statistics)."""
    numbers = isinstance(value, list | tuple) and all(
        is_int(v) or isinstance(v, float) for v in value
    )
    return value is None or (numbers and all(v > above for v in value))


RULES: ArgumentRules = {
    "root": (lambda v: isinstance(v, str | Path) and str(v) != "", "a folder of class folders"),
    "image_size": (lambda v: is_int(v) and v >= 1, "an integer >= 1"),
    "channels": (lambda v: is_int(v) and v in MODES, "1 (grey) or 3 (RGB)"),
    "batch_size": (lambda v: is_int(v) and v >= 1, "an integer >= 1"),
    "split_seed": (is_int, "an integer"),
    "num_workers": WORKERS_RULE,
    "strict": (lambda v: isinstance(v, bool), "true or false"),
    "mean": (_numbers, "a list of numbers, or None"),
    "std": (lambda v: _numbers(v, above=0), "a list of numbers > 0, or None"),
    "classes": CLASSES_RULE,
    "train_size": TRAIN_SIZE_RULE,
}


def load_image(path: Path, image_size: int, channels: int) -> torch.Tensor:
    """One image file -> uint8 (channels, image_size, image_size): the short side resized, then
    centre cropped, so that images of any size and shape batch together."""
    with Image.open(path) as image:
        image.draft(MODES[channels], (image_size, image_size))  # JPEG: decode at a reduced scale
        image = ImageOps.exif_transpose(image)  # phone photos: upright, as a viewer shows them
        if image.mode == "P":  # palette transparency converts cleanly only through RGBA
            image = image.convert("RGBA")
        image = image.convert(MODES[channels])  # alpha is dropped
    image = TF.resize(image, [image_size])  # one number: the short side's length
    return TF.pil_to_tensor(TF.center_crop(image, [image_size, image_size]))


def _readable(path: Path) -> bool:
    try:
        with Image.open(path) as image:
            image.verify()
    except Exception:  # PIL raises OSError, SyntaxError, ValueError... for damaged files
        return False
    return True


def _visible_files(folder: Path, pattern: str) -> list[Path]:
    """Files matching `pattern` under `folder`, sorted, leaving out hidden files and folders."""
    found = (p for p in folder.glob(pattern) if p.is_file())
    return sorted(
        p for p in found if not any(s.startswith(".") for s in p.relative_to(folder).parts)
    )


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


class ImageFileDataset(Dataset):
    """Images decoded from their files on each access: (image, label) pairs or, without labels,
    1-tuples (image,) like a TensorDataset of inputs."""

    def __init__(
        self,
        files: Sequence[Path],
        labels: torch.Tensor | None,
        image_size: int,
        channels: int,
        transforms: Sequence[Callable[[torch.Tensor], torch.Tensor]] = (),
    ) -> None:
        self.files, self.labels = list(files), labels
        self.image_size, self.channels = image_size, channels
        self.transforms = list(transforms)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        x = load_image(self.files[index], self.image_size, self.channels)
        for transform in self.transforms:
            x = transform(x)
        return (x,) if self.labels is None else (x, self.labels[index])


class ImageFolderDataModule(SplitsDataModule):
    """Train, val and test splits of a folder of images, one subfolder per class.

    Class names are the sorted class folder names (of `root/train` in the split layout). Every
    image becomes uint8 (channels, image_size, image_size), then float32 standardized per channel.

    Args:
        root: the folder of class folders, or of train/ (and val/, test/) class folders.
        image_size: side of the square images: each is resized so its short side is this long,
            then centre cropped.
        channels: 1 (images converted to grey) or 3 (converted to RGB).
        batch_size: images per batch, for every split.
        val_fraction: share of train held out for validation, when there is no val/ folder.
        test_fraction: share of train held out for the test, when there is no test/ folder.
        split_seed: seed of the split and of the statistics' sample, apart from the training
            seed.
        num_workers: data loader worker processes (0: load in the main process; auto: one per
            core, at most 8).
        strict: raise on the first file with an image extension that PIL cannot read, instead of
            skipping and counting it.
        mean, std: per-channel statistics of [0, 1] pixels. None: computed from the training
            split, from at most 2,000 of its images chosen with `split_seed` so that setup stays
            fast on a large folder.
        train_transforms: callables applied to each uint8 training image (augmentation).
        classes: the class folders to keep, by name or by index among the sorted names,
            relabelled 0..k-1 in this order (None: all of them).
        train_size: training images to keep, drawn per class in proportion with `split_seed`
            after the splits are made (None: the whole training split).
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
        num_workers: Workers = 0,
        strict: bool = False,
        mean: list[float] | None = None,
        std: list[float] | None = None,
        train_transforms: Sequence[Callable[[torch.Tensor], torch.Tensor]] = (),
        classes: list[int | str] | None = None,
        train_size: int | None = None,
    ) -> None:
        super().__init__()
        check_arguments(RULES, locals())
        check_fractions(val_fraction, test_fraction)
        if [len(v) for v in (mean, std) if v is not None] not in ([], [channels] * 2):
            raise ValueError(
                f"mean={mean!r} and std={std!r} are not allowed with channels={channels}; give "
                f"{channels} numbers each, or None for both (computed from the training split)"
            )
        self.root = Path(root)
        self.image_size, self.channels = image_size, channels
        self.batch_size, self.num_workers = batch_size, num_workers
        self.fractions = {"val": val_fraction, "test": test_fraction}
        self.split_seed, self.strict = split_seed, strict
        self.classes, self.train_size = classes, train_size
        self.mean = [float(v) for v in mean] if mean is not None else None
        self.std = [float(v) for v in std] if std is not None else None
        self.train_transforms = list(train_transforms)
        self._class_names: list[str] | None = None  # from the folders, or a loaded state
        self._skipped, self._unreadable = 0, []
        self._report: dict[str, Any] = {}

    @property
    def spec(self) -> dict:
        """What the model and the task need to know about this data, and the class names that
        its outputs mean (kept in the checkpoint)."""
        shape, names = (self.channels, self.image_size, self.image_size), self.class_names
        return {"input_shape": shape, "num_classes": len(names), "class_names": names}

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
        found = self._find()
        names = sorted(found["train"])
        kept = pick_classes(self.classes, names)
        if kept is not None:
            names = [names[i] for i in kept]
            found = {split: {n: c[n] for n in names if n in c} for split, c in found.items()}
        if self._class_names is not None and self._class_names != names:
            raise ValueError(
                f"class folders {names} of '{self.root}' differ from the trained classes "
                f"{self._class_names}; point data.root at a folder with the trained classes"
            )
        self._class_names = names
        parts = self._split(found)
        files, labels = parts["train"]
        chosen = sample_per_class(labels, self.train_size, self.split_seed)
        parts["train"] = ([files[i] for i in chosen], labels[chosen])
        if self.mean is None or self.std is None:
            self.mean, self.std = self._statistics(parts["train"][0])
        standardize = Standardize(self.mean, self.std)
        for name, (files, labels) in parts.items():
            transforms = [*(self.train_transforms if name == "train" else []), standardize]
            self.splits[name] = ImageFileDataset(
                files, torch.from_numpy(labels), self.image_size, self.channels, transforms
            )
        self._report = self._make_report(found)

    def _find(self) -> dict[str, dict[str, list[Path]]]:
        """Readable images per split folder present (the flat layout's is "train") and class."""
        if not self.root.is_dir():
            raise FileNotFoundError(
                f"data.root '{self.root}' is not a folder; set data.root to the folder that "
                "holds one subfolder of images per class"
            )
        present = [s for s in ("train", *HELD_OUT) if (self.root / s).is_dir()]
        if present and present[0] != "train":  # val/ or test/ alone: not class names
            raise ValueError(
                f"'{self.root / present[0]}' has no train/ beside it: put the training images "
                f"in {self.root / 'train'}/<class>/"
            )
        found = {s: self._classes(self.root / s) for s in present}
        train = self.root / "train" if found else self.root
        found = found or {"train": self._classes(self.root)}
        empty = [name for name, files in found["train"].items() if not files]
        if empty:
            raise ValueError(
                f"class folder '{train / empty[0]}' holds no readable images "
                f"({' '.join(IMAGE_EXTENSIONS)}); add some, or remove the folder"
            )
        for split in HELD_OUT:
            unknown = sorted(set(found.get(split, {})) - set(found["train"]))
            if unknown:
                raise ValueError(
                    f"class folder '{self.root / split / unknown[0]}' has no match in '{train}': "
                    f"add its training images to {train / unknown[0]}/, or remove it"
                )
        return found

    def _classes(self, folder: Path) -> dict[str, list[Path]]:
        """The readable images under each class folder of `folder`; counts the files left out."""
        subfolders = sorted(p for p in folder.iterdir() if p.is_dir() and p.name[0] != ".")
        if not subfolders:
            raise ValueError(
                f"no class folders in '{folder}': put each class's images in {folder}/<class>/"
            )
        classes = {sub.name: [] for sub in subfolders}
        for sub in subfolders:
            for path in _visible_files(sub, "**/*"):
                if not _is_image(path):
                    self._skipped += 1
                elif _readable(path):
                    classes[sub.name].append(path)
                elif self.strict:
                    raise ValueError(
                        f"'{path}' is not a readable image; replace or delete it, or set "
                        "data.strict=false to skip such files"
                    )
                else:
                    self._unreadable.append(path.relative_to(self.root).as_posix())
        return classes

    def _split(self, found: dict) -> dict[str, tuple[list[Path], np.ndarray]]:
        """Files and labels of each split: its folder's, or held out of train by its fraction."""
        parts = {split: self._flatten(classes) for split, classes in found.items()}
        files, labels = parts["train"]
        held = {s: f for s, f in self.fractions.items() if s not in found and f > 0}
        try:
            indices = _hold_out(labels, held, self.split_seed)
        except ValueError as ex:  # scikit-learn: too few images of a class for the fractions
            fractions = ", ".join(f"{s}_fraction={f}" for s, f in held.items())
            raise ValueError(
                f"cannot split the {len(files)} training images of '{self.root}' by class with "
                f"{fractions} ({str(ex).splitlines()[0]}); add images to the smallest classes, "
                "or put them in val/ and test/ folders"
            ) from ex
        parts |= {s: ([files[i] for i in idx], labels[idx]) for s, idx in indices.items()}
        empty = ([], np.zeros(0, dtype=np.int64))
        return {split: parts.get(split, empty) for split in ("train", *HELD_OUT)}

    def _flatten(self, classes: dict[str, list[Path]]) -> tuple[list[Path], np.ndarray]:
        """All files of a split in class order, and their int64 labels."""
        files = [path for name in classes for path in classes[name]]
        labels = [self._class_names.index(name) for name in classes for _ in classes[name]]
        return files, np.asarray(labels, dtype=np.int64)

    def _statistics(self, files: list[Path]) -> tuple[list[float], list[float]]:
        """Per-channel mean and std of [0, 1] pixels over a seeded sample of training images."""
        rng = np.random.default_rng(self.split_seed)
        count = min(len(files), MAX_STATISTICS_IMAGES)
        total = torch.zeros(self.channels, dtype=torch.float64)
        squares = torch.zeros(self.channels, dtype=torch.float64)
        for i in np.sort(rng.choice(len(files), size=count, replace=False)):
            # Running sums: the sample's pixels need not fit in memory at once.
            pixels = load_image(files[i], self.image_size, self.channels).double() / 255
            total += pixels.sum(dim=(1, 2))
            squares += pixels.square().sum(dim=(1, 2))
        n = count * self.image_size**2
        mean = total / n
        # A flat channel (every image one colour) would otherwise divide by zero.
        std = (squares / n - mean.square()).clamp_min(0).sqrt().clamp_min(1e-6)
        return mean.tolist(), std.tolist()

    def _make_report(self, found: dict) -> dict[str, Any]:
        names = self.class_names
        counts = {s: d.labels.bincount(minlength=len(names)) for s, d in self.splits.items()}
        return {
            "root": str(self.root),
            "layout": "split folders" if (self.root / "train").is_dir() else "class folders",
            "held_out_of_train": [s for s in HELD_OUT if s not in found and self.fractions[s] > 0],
            "class_names": list(names),
            "images": {split: len(data) for split, data in self.splits.items()},
            "classes": {s: dict(zip(names, c.tolist(), strict=True)) for s, c in counts.items()},
            "skipped_not_image": self._skipped,
            "unreadable": len(self._unreadable),
            "unreadable_files": self._unreadable[:SHOWN_UNREADABLE],
        }

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
        if not path.exists():
            raise FileNotFoundError(f"predict.input '{path}' does not exist")
        files = [p for p in _visible_files(path, "*") if _is_image(p)] if path.is_dir() else [path]
        if not files:
            raise ValueError(f"predict.input '{path}' holds no {'/'.join(IMAGE_EXTENSIONS)} files")
        bad = next((file for file in files if not _readable(file)), None)
        if bad is not None:
            raise ValueError(f"predict.input: '{bad}' is not a readable image; remove it")
        transforms = [Standardize(self.mean, self.std)]
        dataset = ImageFileDataset(files, None, self.image_size, self.channels, transforms)
        return self.loader(dataset)

    def state_dict(self) -> dict:
        """Statistics and class names as plain data, so that eval and predict transform and name
        images as training did (and the checkpoint loads with weights_only=True)."""
        return {"mean": self.mean, "std": self.std, "class_names": self._class_names}

    def load_state_dict(self, state_dict: dict) -> None:
        self.mean, self.std = state_dict["mean"], state_dict["std"]
        self._class_names = list(state_dict["class_names"])


def _hold_out(labels: np.ndarray, fractions: dict[str, float], seed: int) -> dict[str, np.ndarray]:
    """Indices of train and of each split in `fractions` (at most two), held out of it."""
    if not fractions:
        return {"train": np.arange(len(labels))}
    first, *second = fractions.values()
    parts = stratified_split(labels, first, second[0] if second else 0.0, seed)
    return dict(zip(["train", *fractions], parts, strict=False))  # no second: drop its empty part
