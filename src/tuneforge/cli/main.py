"""`tuneforge VERB [hydra overrides]`: pick the verb, hand the rest to Hydra, print errors as lines.

Hydra is told to raise (HYDRA_FULL_ERROR) so that every error, from composing the config or from
the run, reaches this module and is printed as one line that names the problem and its fix.
Users who set HYDRA_FULL_ERROR=1 themselves get the full traceback instead.
"""

import importlib
import logging
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuneforge.cli.errors import EXIT_BUG, EXIT_CONFIG, TuneforgeError

log = logging.getLogger("tuneforge")


@dataclass(frozen=True)
class Verb:
    module: str
    summary: str


VERBS = {
    "train": Verb("tuneforge.cli.train", "train a model, test its best checkpoint"),
    "eval": Verb("tuneforge.cli.evaluate", "score a checkpoint: tuneforge eval ckpt_path=PATH"),
    "predict": Verb(
        "tuneforge.cli.predict", "write predictions.csv: tuneforge predict ckpt_path=PATH"
    ),
}

USAGE = """usage: tuneforge VERB [group=choice ...] [key=value ...] [hydra flags]

Pretrain, fine-tune and evaluate models by composing Hydra configs.

verbs:
{verbs}

Every verb takes Hydra's flags after it: --help (config groups and keys), --cfg job, -m.
Examples:
  tuneforge train                                  # a small CNN on scikit-learn's digits
  tuneforge train model=mlp optimizer.lr=1e-3 trainer.max_epochs=5
  tuneforge train -m optimizer.lr=1e-3,3e-3
  tuneforge eval ckpt_path=outputs/train/<run>/checkpoints/best.ckpt
"""


def config_dir() -> Path:
    """conf/ as shipped in the wheel (tuneforge/conf), or at the root of a source checkout."""
    import importlib.util

    spec = importlib.util.find_spec("tuneforge.conf")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("tuneforge's configs (tuneforge.conf) are not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _user_wants_traceback() -> bool:
    return os.environ.get("TUNEFORGE_USER_FULL_ERROR") == "1"


def _log_to_files(message: str, exc_info: BaseException) -> None:
    """Record the failure with its traceback in the run's log file, not on the console."""
    record = log.makeRecord(log.name, logging.ERROR, __file__, 0, message, None, None)
    record.exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def _remove_if_unused(run_dir: Path) -> None:
    """Remove a run folder that holds only what Hydra wrote before the config was refused.

    A folder with anything else in it (a user's earlier run) is left alone.
    """
    if not run_dir.is_dir():
        return
    hydra_only = {".hydra", *(p.name for p in run_dir.glob("*.log"))}
    if {p.name for p in run_dir.iterdir()} <= hydra_only:
        logging.shutdown()  # close the log file before removing it
        shutil.rmtree(run_dir, ignore_errors=True)


def _fail(lines: list[str], code: int) -> None:
    for line in lines:
        print(f"error: {line}", file=sys.stderr)
    sys.exit(code)


def _failure(ex: BaseException) -> tuple[list[str], int]:
    """The lines to print for `ex`, and the exit code."""
    if isinstance(ex, TuneforgeError):
        return ex.lines, ex.exit_code
    first = next((line for line in str(ex).splitlines() if line.strip()), "")
    return [
        f"{type(ex).__name__}: {first} (unexpected; set HYDRA_FULL_ERROR=1 for the traceback)"
    ], EXIT_BUG


def _task_function(run: Callable[[Any, Path], Any]) -> Callable[[Any], None]:
    """Wrap a verb's `run(cfg, run_dir)` as Hydra's task function, printing its errors."""

    def task_function(cfg: Any) -> None:
        from hydra.core.hydra_config import HydraConfig

        run_dir = Path(HydraConfig.get().runtime.output_dir)
        try:
            run(cfg, run_dir)
        except Exception as ex:
            if _user_wants_traceback():
                raise
            lines, code = _failure(ex)
            if isinstance(ex, TuneforgeError):
                _remove_if_unused(run_dir)  # refused before it ran: leave nothing behind
            else:
                _log_to_files("error: " + " | ".join(lines), ex)
            _fail(lines, code)

    return task_function


def _known_keys(verb: str, args: list[str], bad_key: str) -> list[str]:
    """Every key of the config composed without the bad override, for 'did you mean'."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    overrides = [a for a in args if "=" in a and a.split("=")[0].lstrip("+~") != bad_key]
    try:
        with initialize_config_dir(str(config_dir()), version_base="1.3"):
            cfg = compose(verb, overrides=overrides)
    except Exception:
        return []

    def walk(node: Any, prefix: str) -> list[str]:
        """Every key under `node`, inner ones too (a mistyped group name is one of those)."""
        if not isinstance(node, dict):
            return []
        keys = [f"{prefix}{key}" for key in node]
        return keys + [k for key, value in node.items() for k in walk(value, f"{prefix}{key}.")]

    return walk(OmegaConf.to_container(cfg), "")


def _compose_failure(verb: str, args: list[str], ex: Exception) -> tuple[list[str], int]:
    from tuneforge.cli._hydra_errors import describe_hydra_error, overridden_key

    key = overridden_key(ex)
    line = describe_hydra_error(ex, _known_keys(verb, args, key) if key else [])
    return ([line], EXIT_CONFIG) if line is not None else _failure(ex)


def run_verb(verb: str, args: list[str]) -> None:
    import hydra

    if "TUNEFORGE_USER_FULL_ERROR" not in os.environ:
        os.environ["TUNEFORGE_USER_FULL_ERROR"] = os.environ.get("HYDRA_FULL_ERROR", "0")
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra raises; this module prints
    module = importlib.import_module(VERBS[verb].module)
    app = hydra.main(config_path=str(config_dir()), config_name=verb, version_base="1.3")(
        _task_function(module.run)
    )
    sys.argv = [f"tuneforge {verb}", *args]
    try:
        app()
    except Exception as ex:
        if _user_wants_traceback():
            raise
        _fail(*_compose_failure(verb, args, ex))


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        verbs = "\n".join(f"  {name:<9}{verb.summary}" for name, verb in VERBS.items())
        print(USAGE.format(verbs=verbs), end="")
        sys.exit(0 if argv else EXIT_CONFIG)
    if argv[0] in ("-V", "--version"):
        from tuneforge import __version__

        print(f"tuneforge {__version__}")
        return
    verb = argv[0]
    if verb not in VERBS:
        _fail([f"unknown verb '{verb}'; choose one of: {', '.join(VERBS)} (tuneforge --help)"], 2)
    run_verb(verb, argv[1:])
