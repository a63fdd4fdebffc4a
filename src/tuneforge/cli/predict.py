"""`tuneforge predict ckpt_path=PATH [predict.input=FILE]`: write predictions.csv, or for a
fine-tuned causal LM predictions.jsonl: each conversation of the input file with its reply, and
in metrics.json the exact match against the replies the file holds."""

import logging
from pathlib import Path

from omegaconf import DictConfig

from tuneforge.atomic_files import write_atomic
from tuneforge.errors import ConfigError, DataError
from tuneforge.run.files import write_json
from tuneforge.run.from_checkpoint import build_from_checkpoint

log = logging.getLogger(__name__)


def input_loader(datamodule, path: str):
    """A loader over the inputs in `path`, read the way the data module reads them."""
    if not hasattr(datamodule, "read_inputs"):
        raise ConfigError(
            f"predict.input: {type(datamodule).__name__} cannot read input files; "
            "leave predict.input unset to predict the test split"
        )
    try:
        return datamodule.read_inputs(path)
    except (FileNotFoundError, ValueError) as ex:
        raise DataError(str(ex)) from ex


def _replies(cfg: DictConfig, checkpoint: dict, path: Path, run_dir: Path) -> Path:
    """A fine-tuned causal LM's replies to the conversations of `predict.input`, greedy unless
    `predict.temperature` says otherwise, as predictions.jsonl."""
    import json

    import torch

    from tuneforge.run.checkpoints import stored_config
    from tuneforge.run.llm_chat import Sampling, answer_file, chat_model

    if not cfg.predict.input:
        raise ConfigError(
            "predict.input: a causal LM answers conversations; give predict.input=FILE.jsonl "
            "(messages, ShareGPT, Alpaca or prompt/completion rows, as data=chat reads them)"
        )
    chat = chat_model(checkpoint, path, cfg.trust_config, cfg, run_dir)
    options = cfg.predict
    sampling = Sampling(options.max_new_tokens, options.temperature, options.top_k, options.top_p)
    torch.manual_seed(cfg.get("seed", 0))
    data = stored_config(checkpoint).data
    answered, scores = answer_file(chat, options.input, data, sampling, options.batch_size)
    lines = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in answered)
    out = run_dir / "predictions.jsonl"
    write_atomic(out, lambda handle: handle.write(lines))
    write_json(run_dir / "metrics.json", {**scores, "ckpt_path": str(path.resolve())})
    shown = ", ".join(
        f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in scores.items()
    )
    log.info("%d replies written to %s (%s)", len(answered), out, shown)
    return out


def run(cfg: DictConfig, run_dir: Path) -> Path:
    import pandas as pd
    import torch

    from tuneforge.run.checkpoints import checkpoint_file, read_checkpoint
    from tuneforge.run.llm_chat import is_causal_lm_checkpoint

    path = checkpoint_file(cfg.ckpt_path)
    checkpoint = read_checkpoint(path)
    if is_causal_lm_checkpoint(checkpoint):
        return _replies(cfg, checkpoint, path, run_dir)
    built, _ = build_from_checkpoint(cfg, run_dir)
    datamodule = built.datamodule
    if cfg.predict.input:
        loader, targets = input_loader(datamodule, cfg.predict.input), None
    else:
        loader, targets = datamodule.predict_dataloader(), datamodule.labels("test")
    batches = built.trainer.predict(built.task, dataloaders=loader)
    columns = built.task.prediction_columns(torch.cat(batches))
    frame = pd.DataFrame({name: values.numpy() for name, values in columns.items()})
    frame.insert(0, "index", range(len(frame)))
    files = getattr(loader.dataset, "files", None)  # inputs read from files: say which is which
    if files is not None:
        frame.insert(1, "file", [str(f) for f in files])
    names = getattr(datamodule, "class_names", None)
    if names and "probability" in frame:
        frame["label"] = [names[i] for i in frame["prediction"]]
    if targets is not None:
        frame["target"] = targets.reshape(len(frame), -1)[:, 0].numpy()
    out = run_dir / "predictions.csv"
    write_atomic(out, lambda handle: frame.to_csv(handle, index=False, float_format="%.6f"))
    log.info("%d predictions written to %s", len(frame), out)
    return out
