"""`tuneforge VERB [hydra overrides]`: pick the verb, hand the rest to Hydra, print errors as lines.

Hydra is told to raise (HYDRA_FULL_ERROR) so that every error, from composing the config or from
the run, reaches this module and is printed as one line that names the problem and its fix.
Users who set HYDRA_FULL_ERROR=1 themselves get the full traceback instead.
"""

import importlib
import logging
import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuneforge.cli import messages
from tuneforge.configs import config_dir
from tuneforge.errors import EXIT_CONFIG, Interrupted, TrialFailed, TuneforgeError
from tuneforge.run.ddp import ddp_job
from tuneforge.trial_keys import TRIAL


@dataclass(frozen=True)
class Verb:
    """A verb's module and its line in `tuneforge --help`. A Hydra verb's module has
    `run(cfg, run_dir)`, called with the composed config; a folder verb's (`hydra=False`) has
    `main(args)`, which parses its own arguments (a folder, options). A verb that `accepts` its
    run itself says when the run goes ahead (`_record.accept_run`): train, once it holds the
    folder and its resume checks pass; the others' runs go ahead as they start."""

    module: str
    summary: str
    hydra: bool = True
    accepts: bool = False


VERBS = {
    "train": Verb("tuneforge.cli.train", "train a model, test its best checkpoint", accepts=True),
    # the checkpoint verbs accept once the checkpoint's config is trusted (run/from_checkpoint.py)
    "eval": Verb(
        "tuneforge.cli.evaluate", "score a checkpoint: tuneforge eval ckpt_path=PATH", accepts=True
    ),
    "predict": Verb(
        "tuneforge.cli.predict",
        "write predictions.csv: tuneforge predict ckpt_path=PATH",
        accepts=True,
    ),
    "export": Verb(
        "tuneforge.cli.export",
        "write the model: tuneforge export ckpt_path=PATH format=hf",
        accepts=True,
    ),
    "generate": Verb(
        "tuneforge.cli.generate",
        'sample text: tuneforge generate ckpt_path=PATH prompt="ROMEO:"',
        accepts=True,
    ),
    "chat": Verb(
        "tuneforge.cli.chat",
        "talk to a fine-tuned causal LM: tuneforge chat ckpt_path=PATH",
        accepts=True,
    ),
    "report": Verb(
        "tuneforge.cli.report", "summarize a run or sweep folder into its report.md", hydra=False
    ),
    "tensorboard": Verb(
        "tuneforge.cli.tensorboard", "serve TensorBoard on outputs/ and multirun/", hydra=False
    ),
    "list": Verb(
        "tuneforge.cli.list",
        "the config groups, a group's choices: tuneforge list model",
        hydra=False,
    ),
}

USAGE = """usage: tuneforge VERB [group=choice ...] [key=value ...] [hydra flags]
       tuneforge report|tensorboard [FOLDER] [options]
       tuneforge list [GROUP] [--path GROUP/CHOICE]

Pretrain, fine-tune and evaluate models by composing Hydra configs.

verbs:
{verbs}

The Hydra verbs take Hydra's flags after them: --help (config groups and keys), --cfg job, -m.
report and tensorboard take a folder: tuneforge report --help; list takes a group.
Examples:
  tuneforge train                                  # a small CNN on scikit-learn's digits
  tuneforge list experiment                        # the experiments, each with its command
  tuneforge train model=mlp optimizer.lr=1e-3 trainer.max_epochs=5
  tuneforge train -m optimizer.lr=1e-3,3e-3
  tuneforge eval ckpt_path=outputs/train/<run>/checkpoints/best.ckpt
  tuneforge report outputs/train/<run>
"""


def _task_function(run: Callable[[Any, Path], Any], accepts: bool) -> Callable[[Any], Any]:
    """Wrap a verb's `run(cfg, run_dir)` as Hydra's task function, printing its errors.

    It returns what `run` returns (a sweeper reads a trial's metrics from it). A sweep's trial
    that fails raises TrialFailed, with its lines, for the sweeper to record; the sweep goes on.
    A run refused before it went ahead leaves its folder as it found it (run/record.py).
    """

    def task_function(cfg: Any) -> Any:
        from hydra.core.hydra_config import HydraConfig
        from omegaconf import OmegaConf

        from tuneforge.run.job import Job

        run_dir = Path(HydraConfig.get().runtime.output_dir)
        job = Job(run_dir, cfg, HydraConfig.instance().cfg, accepts)
        trial = OmegaConf.select(cfg, TRIAL) is not None
        try:
            # DDP's other ranks run this job, not the command line's sweep
            return job.run(run, around=ddp_job)
        except Exception as ex:
            no_room = messages.unwritable(ex)  # a full or read-only disk: no record can be written
            refused = isinstance(ex, TuneforgeError) or no_room
            job.failed(refused and not trial)  # a trial's numbered folder is its own: keep why
            if messages.user_wants_traceback():
                raise
            lines, code = messages.failure(ex, started=job.started)
            if isinstance(ex, Interrupted):
                messages.fail(lines, code)  # a sweep stops too
            if trial:
                messages.log_to_files("error: " + " | ".join(lines), ex)
                raise TrialFailed(*lines) from ex
            if not refused:
                messages.log_to_files("error: " + " | ".join(lines), ex)
            elif job.record.fresh and not job.started:
                messages.remove_if_unused(run_dir)  # refused before it ran: leave nothing behind
            messages.fail(lines, code)

    return task_function


def run_verb(verb: str, args: list[str]) -> None:
    logging.raiseExceptions = False  # a log file on a full disk must not bury the error line
    import hydra

    if "TUNEFORGE_USER_FULL_ERROR" not in os.environ:
        os.environ["TUNEFORGE_USER_FULL_ERROR"] = os.environ.get("HYDRA_FULL_ERROR", "0")
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra raises; this module prints
    # conf/hydra/launcher/submitit_*.yaml repeat every key of the plugin's schema of the same name,
    # which Hydra still checks them against; its note about that is not for users.
    warnings.filterwarnings("ignore", message="(?s).*validated against ConfigStore schema")
    module = importlib.import_module(VERBS[verb].module)
    if verb == "train":  # `resume=X` is short for `resume.from=X` (run/resume.py)
        from tuneforge.run.resume import shorthand

        args = shorthand(args)
    app = hydra.main(config_path=str(config_dir()), config_name=verb, version_base="1.3")(
        _task_function(module.run, VERBS[verb].accepts)
    )
    sys.argv = [f"tuneforge {verb}", *args]
    try:
        app()
    except Exception as ex:
        if messages.user_wants_traceback():
            raise
        messages.fail(*messages.compose_failure(config_dir(), verb, args, ex))


def run_folder_verb(verb: str, args: list[str]) -> None:
    """A verb that is not Hydra's: its module parses `args` and does the work; its errors are
    printed as lines, as a Hydra verb's are."""
    module = importlib.import_module(VERBS[verb].module)
    try:
        module.main(args)
    except Exception as ex:
        if messages.user_wants_traceback():
            raise
        messages.fail(*messages.failure(ex))


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        verbs = "\n".join(f"  {name:<12}{verb.summary}" for name, verb in VERBS.items())
        print(USAGE.format(verbs=verbs), end="")
        sys.exit(0 if argv else EXIT_CONFIG)
    if argv[0] in ("-V", "--version"):
        from tuneforge import __version__

        print(f"tuneforge {__version__}")
        return
    verb = argv[0]
    if verb not in VERBS:
        messages.fail(
            [f"unknown verb '{verb}'; choose one of: {', '.join(VERBS)} (tuneforge --help)"], 2
        )
    if VERBS[verb].hydra:
        run_verb(verb, argv[1:])
    else:
        run_folder_verb(verb, argv[1:])


def command() -> None:
    """The `tuneforge` program: `main`, then an exit without the interpreter's teardown (seconds
    of freeing torch's and Lightning's modules; see `exit_without_teardown`) and with main's
    exit status. A traceback the user asked for (TUNEFORGE_USER_FULL_ERROR=1) ends the process
    as usual, and so does a run under a profiler or a tracer (`python -m cProfile`, a debugger,
    coverage), which writes its results only after the program returns."""
    from tuneforge.processes import exit_without_teardown

    try:
        main()
        code = 0
    except SystemExit as stop:
        code = exit_status(stop)
    if sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(code)
    exit_without_teardown(code)


def exit_status(stop: SystemExit) -> int:
    """The status a `SystemExit` ends a process with; a message in its place is printed to
    stderr and ends it with 1, as the interpreter does."""
    if stop.code is None:
        return 0
    if isinstance(stop.code, int):
        return stop.code
    print(stop.code, file=sys.stderr)
    return 1
