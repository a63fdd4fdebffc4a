"""ONNX and TorchScript files of a trained model, checked against the model before they are kept.

The example input is built from the data facts the checkpoint stores (`data_spec`): images and
tables from `input_shape`, token ids from `vocab_size` and `block_size` (a language model) or
`max_length` (a text classifier, one row padded at the end with `pad_id`, as its batches are).
The batch dimension is dynamic, and for token ids the length too (up to the longest the model
takes). After writing, the file is run on another batch, of another size, and must give the
model's outputs: a trace that kept a shape or a branch of the example fails here, not in use.
"""

import importlib.util
import logging
import warnings
from pathlib import Path
from typing import Any

import torch

from tuneforge.atomic_files import atomic_path
from tuneforge.errors import CheckpointError, ConfigError

# How far another runtime's float32 outputs may be from torch's (other kernels, other orders).
ATOL, RTOL = 1e-4, 1e-3
# Weights above this go to an external data file beside the .onnx (protobuf's limit is 2 GiB).
ONNX_INLINE_BYTES = 1_800_000_000


def example_input(spec: dict[str, Any], batch: int = 2, shorter: int = 0) -> torch.Tensor:
    """A batch of `batch` inputs as the data gives them; token rows `shorter` tokens shorter
    than the longest the model takes.

    Raises:
        CheckpointError: when the data facts say neither an input shape nor a vocabulary.
    """
    generator = torch.Generator().manual_seed(batch)
    if "input_shape" in spec:
        return torch.randn(batch, *spec["input_shape"], generator=generator)
    length = spec.get("block_size") or spec.get("max_length")
    if "vocab_size" not in spec or not length:
        raise CheckpointError(
            f"the checkpoint's data facts ({', '.join(spec)}) tell no input shape or vocabulary "
            "to build an example input from; use format=safetensors"
        )
    length = max(1, length - shorter)
    ids = torch.randint(spec["vocab_size"], (batch, length), generator=generator)  # (B, T)
    pad = spec.get("pad_id")
    if pad is not None:
        ids[ids == pad] = (pad + 1) % spec["vocab_size"]
        ids[-1, length // 2 + 1 :] = pad  # the last row padded at the end
    return ids


def _dynamic(example: torch.Tensor) -> dict[int, str]:
    """The dimensions that vary between calls: the batch, and the length of token ids."""
    return {0: "batch"} if example.is_floating_point() else {0: "batch", 1: "length"}


def _check(run: Any, model: torch.nn.Module, spec: dict[str, Any], path: Path) -> float:
    """Run the exported file on a batch of 3 (token rows 3 shorter) and compare with `model`;
    the largest difference. A file that does not match is removed.

    Raises:
        ConfigError: when the outputs differ by more than float32 rounding, or in shape.
    """
    inputs = example_input(spec, batch=3, shorter=3)
    with torch.no_grad():
        expected = model(inputs)
    got = torch.as_tensor(run(inputs))
    if got.shape == expected.shape:
        difference = (got - expected).abs()
        if bool((difference <= ATOL + RTOL * expected.abs()).all()):
            return difference.max().item()
        found = f"differ by up to {difference.max().item():.3g}"
    else:
        found = f"have shape {tuple(got.shape)}, not {tuple(expected.shape)}"
    for written in (path, path.with_name(path.name + ".data")):
        written.unlink(missing_ok=True)
    fmt, other = ("onnx", "torchscript") if path.suffix == ".onnx" else ("torchscript", "onnx")
    raise ConfigError(
        f"format={fmt}: the exported {type(model).__name__}'s outputs {found} from the model's "
        f"on a batch other than the example (the export kept something of it); use format={other} "
        "or format=safetensors"
    )


def write_torchscript(model: torch.nn.Module, spec: dict[str, Any], path: Path) -> float:
    """Trace `model` on an example input, save it, load it back and check it; the largest
    difference from the model on a second batch.

    TorchScript is deprecated since torch 2.5 (`torch.jit.trace` warns and is unsupported on
    Python 3.14+); it is kept because C++ (libtorch) and mobile runtimes load it. ONNX is the
    format for other runtimes.

    Raises:
        ConfigError: when the traced file does not give the model's outputs on a second batch
            (Python that branched on the example's shape or values was traced as constants).
    """
    example = example_input(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # the deprecation, said above
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # checked by _check instead
        # check_trace compares two traces' graphs, which differ in names only for some modules
        traced = torch.jit.trace(model, (example,), check_trace=False)
        with atomic_path(path) as tmp:
            torch.jit.save(traced, str(tmp))
        loaded = torch.jit.load(str(path))
    return _check(loaded, model, spec, path)


def _need(packages: tuple[str, ...], fmt: str) -> None:
    missing = [name for name in packages if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(
            f"format={fmt} needs {', '.join(missing)}; install it with: pip install "
            f"'tuneforge[onnx]' (or pip install {' '.join(missing)})"
        )


def write_onnx(model: torch.nn.Module, spec: dict[str, Any], path: Path) -> float | None:
    """Export `model` with torch's ONNX exporter (through torch.export), and check the file
    with onnxruntime where it is installed; the largest difference from the model, or None.

    Raises:
        ConfigError: when torch.export cannot capture the model (a packed LSTM), or onnx or
            onnxscript is not installed.
    """
    _need(("onnx", "onnxscript"), "onnx")
    example = example_input(spec)
    size = sum(p.numel() * p.element_size() for p in model.parameters())
    for library in ("onnx_ir", "onnxscript"):  # a line per graph pass otherwise
        logging.getLogger(library).setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's notes; a failure raises
            torch.onnx.export(
                model,
                (example,),
                str(path),
                dynamo=True,
                verbose=False,  # no progress lines on the terminal
                input_names=["input"],
                output_names=["output"],
                dynamic_shapes=(_dynamic(example),),
                external_data=size > ONNX_INLINE_BYTES,
            )
    except Exception as ex:  # torch.export fails on data-dependent Python in many ways
        cause = ex.__cause__ or ex
        reason = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        raise ConfigError(
            f"format=onnx cannot export {type(model).__name__}: torch.export fails on it "
            f"({reason[:160]}); use format=torchscript or format=safetensors"
        ) from ex
    if importlib.util.find_spec("onnxruntime") is None:
        return None
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return _check(lambda x: session.run(None, {"input": x.numpy()})[0], model, spec, "onnx")
