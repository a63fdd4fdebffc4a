"""`resume=auto|PATH|null`: which checkpoint a training run continues from, and with which
changes to the stored run's config (`resume.allow_changes=true`).

`resume` is a node, `resume.from` and `resume.allow_changes`; on the command line `resume=X` is
short for `resume.from=X` (`shorthand`), so every command of before still reads as it did, and
`resume=auto resume.allow_changes=true` works in either order. A plain `resume: auto` in a
user's config file, or in a checkpoint stored before the node, means `resume.from`.
"""

import copy
import json
import logging
import re
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from tuneforge.atomic_files import UNFINISHED, write_atomic
from tuneforge.checkpoint_format import CHECKPOINTS
from tuneforge.errors import CheckpointError, ConfigError
from tuneforge.run.checkpoints import newest_readable, read_checkpoint, stored_config
from tuneforge.run.config_diff import Change, comparable, differences

log = logging.getLogger(__name__)

RESUME_FIX = (
    "give resume a .ckpt of this model, or a run folder (its newest good checkpoint is used); "
    "resume=null starts afresh"
)
SHORTHAND = re.compile(r"^(\+{0,2})resume=(?!\{)")  # not resume={from: ...}, Hydra's own dict

# What a resumed run cannot take from its command, whatever resume.allow_changes says, by key
# (or a key above it: `finetune` is every key under it), with why. The rest is built anew from
# the command's config (Trainer, model, data, task), or put over the state Lightning restores
# (optimizers and schedulers: callbacks/new_hyperparameters.py); a model whose weights no
# longer fit is refused by `check_fits`.
FIXED = {
    "seed": "the random states come back from the checkpoint",
    "tune": "a resumed run is not tuned again",
    "finetune": "it decides which parameters train, whose optimizer state the checkpoint holds",
    **{
        f"{part}._target_": "another class cannot take the state restored for this one"
        for part in ("data", "model", "task", "optimizer", "scheduler")
    },
}
# Not compared: Hydra's keys, resume itself, and what a run shows and where it writes, which a
# resumed run takes from its command as it is (a progress bar off in a batch job, a callback
# added); `paths` is folded into the values that name its folders (`comparable`).
IGNORED = ("hydra", "resume", "callbacks", "logger")
# In the run folder: each resume that changed the config, with its changes `key: [old, new]`.
CHANGES_FILE = "resume_changes.json"


def _remove_unfinished(folder: Path) -> None:
    """Delete what saves that were killed left behind in this run's own folder: this run holds
    it now, so no other process is writing them."""
    left = sorted(folder.glob(UNFINISHED)) if folder.is_dir() else []
    for path in left:
        path.unlink(missing_ok=True)
    if left:
        log.info("Removed %d unfinished checkpoint file(s) that a killed run left", len(left))


def _newest(folder: Path, key: str) -> tuple[Path, dict[str, Any]] | None:
    checkpoints = folder / CHECKPOINTS
    found = newest_readable(checkpoints)
    if found is None and any(checkpoints.glob("*.ckpt")):
        raise CheckpointError(
            f"{key}: no checkpoint in '{checkpoints}' is readable (all truncated or damaged); "
            "start afresh with resume=null and another hydra.run.dir"
        )
    return found


def to_resume(resume: str | None, run_dir: Path) -> tuple[Path, dict[str, Any]] | None:
    """The checkpoint that `resume` names, read, or None to train from the start.

    `auto` is the newest good checkpoint of `run_dir` (a run folder used again through
    `hydra.run.dir`), or None where it has none yet. A folder is a run folder, whose newest good
    checkpoint is taken; a file is taken as it is.

    Raises:
        CheckpointError: for a missing, unreadable or foreign checkpoint: one line that names
            it and, where there is one, the newest good checkpoint beside it.
    """
    if resume is None:
        return None
    if resume == "auto":
        _remove_unfinished(run_dir / CHECKPOINTS)
        found = _newest(run_dir, "resume=auto")
        if found is None:
            log.info("resume=auto: %s has no checkpoint yet; training from the start", run_dir)
        return found
    path = Path(resume)
    if path.is_dir():
        found = _newest(path, f"resume={resume}")
        if found is None:
            raise CheckpointError(
                f"resume='{path}' is a folder with no checkpoints/*.ckpt; {RESUME_FIX}"
            )
        return found
    return path, read_checkpoint(path, key="resume", fix=RESUME_FIX)


def check_fits(task: Any, checkpoint: dict[str, Any], path: Path) -> None:
    """Refuse a checkpoint whose weights do not fit this run's model, before Lightning fails on
    it halfway through restoring.

    Raises:
        CheckpointError: naming the first parameter that differs.
    """
    from tuneforge.tasks.causal_lm import restore_frozen_base

    restore_frozen_base(checkpoint, task.model, "model.", str(path))  # adapters alone: the base
    mine = {name: tuple(value.shape) for name, value in task.state_dict().items()}
    theirs = {name: tuple(value.shape) for name, value in checkpoint["state_dict"].items()}
    differ = sorted(set(mine) ^ set(theirs)) or [n for n in mine if mine[n] != theirs[n]]
    if differ:
        name = differ[0]
        shapes = f"{theirs.get(name, 'absent')} there, {mine.get(name, 'absent')} here"
        raise CheckpointError(
            f"resume checkpoint '{path}' does not fit this run's model ({name}: {shapes}); "
            "resume with the config that wrote it, or start afresh with resume=null"
        )


def shorthand(args: list[str]) -> list[str]:
    """The command line with `resume=X` written as `resume.from=X`: Hydra would put X in the
    node's place, and then refuse `resume.allow_changes` (or drop it, given before)."""
    return [SHORTHAND.sub(r"\1resume.from=", arg) for arg in args]


def settings(cfg: DictConfig) -> tuple[str | None, bool]:
    """`resume.from` and `resume.allow_changes` of `cfg`; a plain `resume` value is the first."""
    node = cfg.get("resume")
    if node is None or isinstance(node, str):
        return node, False
    return node.get("from"), bool(node.get("allow_changes"))


def _fixed(change: Change) -> str | None:
    """Why `change` cannot be taken by a resumed run, or None where it can."""
    for key, why in FIXED.items():
        if change.key == key or change.key.startswith((f"{key}.", f"{key}[")):
            return why
    return None


def _tuned(cfg: DictConfig, stored: dict[str, Any]) -> DictConfig:
    """`cfg` with the value that `tune` found for the stored run, where the command tunes the
    same: a resumed run is not tuned again, and goes on with what was found."""
    from tuneforge.run.tuner import FINDERS

    what = stored.get("tune")
    if what is None or what != cfg.get("tune"):
        return cfg
    key = FINDERS[what][0]
    cfg = copy.deepcopy(cfg)
    with open_dict(cfg):
        OmegaConf.update(cfg, key, OmegaConf.select(OmegaConf.create(stored), key))
    return cfg


def config_to_resume(
    cfg: DictConfig, resumed: tuple[Path, dict[str, Any]] | None, run_dir: Path
) -> tuple[DictConfig, list[Change]]:
    """The config to build a resumed run from, and how it differs from the run stored in the
    checkpoint: `cfg` itself, and no changes, for a run that starts afresh.

    Raises:
        ConfigError: for a difference a resumed run cannot take (FIXED), or any difference
            where `resume.allow_changes` is not true: one line listing them, `key: old -> new`.
    """
    if resumed is None:
        return cfg, []
    from tuneforge.run.build import with_run_dir
    from tuneforge.run.validate import to_container

    source, allowed = settings(cfg)
    path, checkpoint = resumed
    stored = OmegaConf.to_container(stored_config(checkpoint))
    cfg = _tuned(cfg, stored)
    now = to_container(with_run_dir(cfg, run_dir))
    changes = differences(comparable(stored, IGNORED), comparable(now, IGNORED))
    fixed = [f"{change} ({why})" for change in changes if (why := _fixed(change))]
    if fixed:
        raise ConfigError(
            f"resume={source}: {', '.join(fixed)}: a resumed run cannot take this; give it "
            "the stored value again, or start afresh with resume=null"
        )
    if changes and not allowed:
        raise ConfigError(
            f"resume={source}: the config differs from the run in '{path}': "
            f"{', '.join(map(str, changes))}; resume with its values, add "
            "resume.allow_changes=true to train on with these, or start afresh with resume=null"
        )
    return cfg, changes


def fit_from(
    resumed: tuple[Path, dict[str, Any]] | None,
    task: Any,
    trainer: Any,
    run_dir: Path,
    changes: list[Change],
) -> str | None:
    """The `ckpt_path` for `Trainer.fit`: the checkpoint `to_resume` found, checked against
    this run's model and named in the log, or None to train from the start. The `changes` that
    `config_to_resume` allowed are logged and made to take effect over the restored state."""
    if resumed is None:
        continue_curves(trainer.loggers, 0)  # a folder used again shows this run's curves alone
        return None
    path, checkpoint = resumed
    check_fits(task, checkpoint, path)
    continue_curves(trainer.loggers, checkpoint.get("global_step", 0))
    epoch, step = checkpoint.get("epoch", "?"), checkpoint.get("global_step", "?")
    log.info("Resuming from %s (epoch %s, step %s)", _shown(path, run_dir), epoch, step)
    if changes:
        from tuneforge.callbacks.new_hyperparameters import NewHyperparameters

        log.info("resume.allow_changes=true: training on with %s", ", ".join(map(str, changes)))
        trainer.callbacks.append(NewHyperparameters())
    return str(path)


def _shown(path: Path, run_dir: Path) -> Path:
    return path.relative_to(run_dir) if path.is_relative_to(run_dir) else path


def keep_changes(
    changes: list[Change], resumed: tuple[Path, dict[str, Any]] | None, run_dir: Path
) -> None:
    """Add the `changes` of this resume to the run folder's CHANGES_FILE, which lists each
    resume that changed the config: the checkpoint it went on from and `key: [old, new]`.
    Once the run goes ahead, and on one process (DDP's ranks hold the same changes)."""
    from lightning.pytorch.utilities.rank_zero import rank_zero_only

    if not changes or getattr(rank_zero_only, "rank", 0) != 0:  # changes: resumed too
        return
    path, checkpoint = resumed
    file = run_dir / CHANGES_FILE
    entry = {
        "from": str(_shown(path, run_dir)),
        "epoch": checkpoint.get("epoch"),
        "step": checkpoint.get("global_step"),
        "changes": {change.key: [change.before, change.after] for change in changes},
    }
    history = json.loads(file.read_text()) if file.is_file() else []
    write_atomic(file, lambda handle: json.dump([*history, entry], handle, indent=2))


def continue_curves(loggers: list[Any], step: int) -> None:
    """Make TensorBoard drop what was logged in this folder at `step` and after, which this run
    logs again (a killed run's steps after its checkpoint): TensorBoardLogger hands its keyword
    arguments to the SummaryWriter, whose `purge_step` does that."""
    from lightning.pytorch.loggers import TensorBoardLogger

    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            logger._kwargs.setdefault("purge_step", step)  # read when the writer is made
