"""tuneforge from Python (a notebook, a script): compose, train, evaluate, predict, load.

Each function does what its command does, with the same `build()`, the same checks and the same
run folder (`.hydra/`, the log file, checkpoints, metrics.json), and returns plain objects: a
config, a metrics dict, a tensor, the `nn.Module`. Errors are `tuneforge.errors`' typed errors,
with the lines the command would print. Hydra's global state is neither read nor left behind:
configs are composed inside `initialize_config_dir`'s context, as the tests compose them. torch
loads only when a run starts, so `import tuneforge` stays cheap.
"""

import contextlib
import logging
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from tuneforge.errors import ConfigError, TuneforgeError

Folder = str | Path
# Hydra's job logging, as the command's run log file writes its lines.
LOG_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"


def compose(
    overrides: Sequence[str] = (), verb: str = "train", config_dir: Folder | None = None
) -> DictConfig:
    """The config `tuneforge VERB overrides...` runs, as `--cfg job` prints it.

    Args:
        overrides: `group=choice` and `key=value` strings, as on the command line.
        verb: train, eval, predict, export or generate: the config it starts from.
        config_dir: a folder of your own config groups and experiments, searched after
            tuneforge's (as `hydra.searchpath` adds one).

    Raises:
        ConfigError: for an unknown group, choice or key, with the command's line.
    """
    return _composed(verb, overrides, config_dir)[0]


def _composed(
    verb: str, overrides: Sequence[str], config_dir: Folder | None
) -> tuple[DictConfig, DictConfig]:
    """The verb's config and its `{"hydra": ...}` (what the run record keeps)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from tuneforge.cli.messages import compose_failure
    from tuneforge.configs import config_dir as shipped
    from tuneforge.run.resume import shorthand

    args = shorthand(list(overrides)) if verb == "train" else list(overrides)
    if config_dir is not None:
        args.append(f"hydra.searchpath=[file://{Path(config_dir).resolve()}]")
    try:
        with initialize_config_dir(str(shipped()), version_base="1.3"):
            cfg = hydra_compose(verb, overrides=args, return_hydra_config=True)
    except Exception as ex:
        lines, _ = compose_failure(shipped(), verb, args, ex)
        raise ConfigError(*lines) from ex
    hydra_cfg = OmegaConf.create({"hydra": cfg.hydra})
    with read_write(cfg), open_dict(cfg):
        del cfg["hydra"]
    return cfg, hydra_cfg


def _record_of(config: DictConfig) -> DictConfig:
    """The run record's `{"hydra": ...}` for a config composed by the caller: the train verb's,
    without overrides or group choices, which such a config does not tell."""
    _, hydra_cfg = _composed("train", (), None)
    with read_write(hydra_cfg):
        hydra_cfg.hydra.runtime.choices = {}
    return hydra_cfg


def _command_folder(hydra_cfg: DictConfig) -> Path:
    """Where the command would run: `hydra.run.dir`, outputs/VERB/DATE_TIME by default."""
    return Path(OmegaConf.to_container(hydra_cfg.hydra.run, resolve=True)["dir"])


@contextlib.contextmanager
def _log_file(run_dir: Path, name: str) -> Iterator[None]:
    """The run's NAME.log, INFO and up from every logger, as the command's job logging writes
    it; opened only once the run goes ahead (run/record.py). The root logger's level is the
    caller's again afterwards."""
    handler = logging.FileHandler(run_dir.absolute() / f"{name}.log", delay=True)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    if level == logging.NOTSET or level > logging.INFO:
        root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()
        root.setLevel(level)


def _run(
    run: Callable[[DictConfig, Path], Any],
    cfg: DictConfig,
    hydra_cfg: DictConfig,
    run_dir: Folder | None,
    accepts: bool = True,
) -> Any:
    """What the verb's `run(cfg, run_dir)` returns, run as the command runs it (run/job.py).
    A run refused before it went ahead leaves no folder that it made.

    Raises:
        TuneforgeError: what the command would print, as it would print it.
    """
    from tuneforge.cli.messages import unwritable
    from tuneforge.run.build import with_run_dir
    from tuneforge.run.job import Job

    # absolute, as Hydra gives it: a verb names its files relative to it
    run_dir = (Path(run_dir) if run_dir is not None else _command_folder(hydra_cfg)).absolute()
    made = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg = with_run_dir(cfg, run_dir)
    with _log_file(run_dir, hydra_cfg.hydra.job.name):
        job = Job(run_dir, cfg, hydra_cfg, accepts)
        try:
            return job.run(run)
        except Exception as ex:
            job.failed(isinstance(ex, TuneforgeError) or unwritable(ex))
            if made and not job.started and not any(run_dir.iterdir()):
                run_dir.rmdir()
            raise


def train(
    config: DictConfig | Sequence[str] = (),
    run_dir: Folder | None = None,
    config_dir: Folder | None = None,
) -> dict[str, Any]:
    """Train as `tuneforge train` does, in `run_dir`; return what metrics.json holds.

    Args:
        config: overrides (`["model=mlp", "trainer.max_epochs=5"]`), or a config from
            `compose()` (its run record then names no overrides or group choices).
        run_dir: the run folder; None: the command's (outputs/train/DATE_TIME).
        config_dir: your own config folder, for overrides (see `compose`).
    """
    from tuneforge.cli import train as verb

    if isinstance(config, DictConfig):
        cfg, hydra_cfg = config, _record_of(config)
    else:
        cfg, hydra_cfg = _composed("train", config, config_dir)
    return _run(verb.run, cfg, hydra_cfg, run_dir, accepts=True)


def _checkpoint_verb(
    verb: str, checkpoint: Folder, overrides: Sequence[str], trust_config: bool
) -> tuple[DictConfig, DictConfig]:
    """The verb's config for `checkpoint` (a .ckpt or a training run's folder), recorded as
    the command line `ckpt_path=... trust_config=...` would be."""
    cfg, hydra_cfg = _composed(verb, overrides, None)
    given = {"ckpt_path": str(checkpoint), "trust_config": bool(trust_config)}
    with open_dict(cfg), read_write(hydra_cfg):
        cfg.update(given)
        hydra_cfg.hydra.overrides.task += [f"{key}={value}" for key, value in given.items()]
    return cfg, hydra_cfg


def evaluate(
    checkpoint: Folder,
    run_dir: Folder | None = None,
    overrides: Sequence[str] = (),
    trust_config: bool = False,
) -> dict[str, Any]:
    """Score a checkpoint as `tuneforge eval ckpt_path=...` does; return what metrics.json holds.

    Args:
        checkpoint: a .ckpt, or a training run's folder (its best checkpoint).
        run_dir: the eval run's folder; None: the command's (outputs/eval/DATE_TIME).
        overrides: the eval verb's (`split=val`, `data=CHOICE`, ...).
        trust_config: build a checkpoint config that names code outside tuneforge's configs;
            only for checkpoints you trust.
    """
    from tuneforge.cli import evaluate as verb

    cfg, hydra_cfg = _checkpoint_verb("eval", checkpoint, overrides, trust_config)
    return _run(verb.run, cfg, hydra_cfg, run_dir)


def predict(
    checkpoint: Folder,
    inputs: Any,
    run_dir: Folder | None = None,
    overrides: Sequence[str] = (),
    trust_config: bool = False,
) -> Any:
    """The trained task's predictions for `inputs`, read and transformed as `tuneforge predict
    predict.input=FILE` reads that file: class probabilities (N, classes) for classification,
    (N, outputs) for regression; a fine-tuned causal LM's greedy replies (a list of str) to
    prompts or conversations. The training data need not be there: what the data module
    fitted (statistics, tokenizer, chat template) comes from the checkpoint.

    Args:
        checkpoint: a .ckpt, or a training run's folder (its best checkpoint).
        inputs: a file the data module reads, or the inputs themselves in the data's own units:
            an array or tensor (digits: (N, 8, 8) or (N, 64) pixels 0 to 16), a pandas
            DataFrame of a table's feature columns, or a list of texts for text data; for a
            causal LM, user prompts (str) or conversations ([{role, content}, ...]).
        run_dir: where the predict run keeps its record and log; None: a temporary folder.
        overrides: the predict verb's (`trainer=...`).
        trust_config: as for `evaluate`.

    Raises:
        DataError: when the inputs are not what the data module reads.
    """
    import torch

    from tuneforge.run.checkpoints import checkpoint_file, read_checkpoint
    from tuneforge.run.from_checkpoint import build_from_checkpoint
    from tuneforge.run.llm_chat import is_causal_lm_checkpoint

    def run(cfg: DictConfig, folder: Path) -> torch.Tensor | list[str]:
        path = checkpoint_file(cfg.ckpt_path)
        stored = read_checkpoint(path)
        if is_causal_lm_checkpoint(stored):
            return _replies(stored, path, cfg, folder, inputs)
        built, _ = build_from_checkpoint(cfg, folder, splits=False)
        with tempfile.TemporaryDirectory() as scratch:
            loader = _input_loader(built.datamodule, inputs, Path(scratch))
            batches = built.trainer.predict(built.task, dataloaders=loader)
        return torch.cat(batches)

    cfg, hydra_cfg = _checkpoint_verb("predict", checkpoint, overrides, trust_config)
    if run_dir is not None:
        return _run(run, cfg, hydra_cfg, run_dir)
    with tempfile.TemporaryDirectory() as folder:
        return _run(run, cfg, hydra_cfg, folder)


def _replies(checkpoint: dict, path: Path, cfg: DictConfig, folder: Path, inputs: Any) -> list:
    """A causal LM's greedy replies to prompts (str) or conversations, in batches of the
    predict verb's `predict.batch_size`, at most `predict.max_new_tokens` tokens each."""
    from tuneforge.run.llm_chat import Sampling, chat_model

    if isinstance(inputs, str | Path) or not isinstance(inputs, list | tuple):
        raise ConfigError(
            "inputs: a causal LM answers a list of prompts (str) or conversations "
            "([{'role': 'user', 'content': ...}]); for a file use the command's predict.input"
        )
    chat = chat_model(checkpoint, path, cfg.trust_config, cfg, folder)
    conversations = [
        [{"role": "user", "content": item}] if isinstance(item, str) else list(item)
        for item in inputs
    ]
    sampling = Sampling(max_new_tokens=cfg.predict.max_new_tokens)
    replies = chat.batched_replies(conversations, sampling, cfg.predict.batch_size)
    return [reply for reply, _ in replies]


def _input_loader(datamodule: Any, inputs: Any, scratch: Path) -> Any:
    """A loader over `inputs`, through the data module's `read_inputs` as `predict.input`: in
    memory ones are written to a file of the kind it reads first, so both go the same way."""
    from tuneforge.cli.predict import input_loader

    if isinstance(inputs, str | Path):
        return input_loader(datamodule, str(inputs))
    import numpy as np
    import pandas as pd

    if isinstance(inputs, pd.DataFrame):
        path = scratch / "inputs.csv"
        inputs.to_csv(path, index=False)
    elif isinstance(inputs, list | tuple) and inputs and all(isinstance(t, str) for t in inputs):
        column = getattr(datamodule, "text_column", None)
        if column is None:
            raise ConfigError(
                f"inputs: {type(datamodule).__name__} does not read texts; give an array, a "
                "DataFrame or a file of its inputs"
            )
        path = scratch / "inputs.csv"
        pd.DataFrame({column: list(inputs)}).to_csv(path, index=False)
    else:
        array = inputs.detach().cpu().numpy() if hasattr(inputs, "detach") else inputs
        path = scratch / "inputs.npy"
        np.save(path, np.asarray(array), allow_pickle=False)
    return input_loader(datamodule, str(path))


def load(checkpoint: Folder, trust_config: bool = False) -> Any:
    """The trained model (an `nn.Module`, in eval mode) with its weights, sized by the data facts
    the checkpoint keeps: no data is read. It takes the model's inputs, transformed as training
    transformed them (`predict` transforms raw inputs).

    Args:
        checkpoint: a .ckpt, or a training run's folder (its best checkpoint).
        trust_config: as for `evaluate`.

    Raises:
        CheckpointError: for a missing or unreadable checkpoint, or an untrusted config.
    """
    from tuneforge.run.checkpoints import checkpoint_file, read_checkpoint
    from tuneforge.run.from_checkpoint import trained_model

    verb, _ = _composed("predict", (), None)
    path = checkpoint_file(checkpoint)
    with tempfile.TemporaryDirectory() as folder:  # nothing is written: no run folder to keep
        model = trained_model(read_checkpoint(path), path, trust_config, verb, Path(folder))
    return model.eval()
