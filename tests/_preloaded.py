"""Run `tuneforge` commands for the tests in forks of one process that imported torch once.

Each command still starts from a clean process state as far as it can see: a fresh fork of a
parent that has imported torch, Lightning, Hydra and tuneforge but run nothing, with the test's
folder, environment and arguments, its own stdout and stderr, and the `tuneforge` program's exit.
What it saves is the import of torch and Lightning (seconds each time), which the suite would
otherwise pay for every one of its many commands. The parent computes nothing, so no thread pool
exists to be broken by the fork.

Protocol: one JSON request per line on stdin ({"program", "args", "cwd", "env"}), one JSON reply
per line on stdout ({"returncode", "stdout", "stderr"}).
"""

import json
import os
import sys
import tempfile
import traceback


def _preload() -> None:
    """Import what commands import, so that no fork pays for it; run nothing."""
    import importlib

    from hydra.core.plugins import Plugins

    for name in (
        "lightning",
        "pandas",
        "sklearn.datasets",
        "tensorboard",
        "torch",
        "torchvision",
        "tuneforge.run.build",
        "tuneforge.cli.evaluate",
        "tuneforge.cli.export",
        "tuneforge.cli.generate",
        "tuneforge.cli.main",
        "tuneforge.cli.predict",
        "tuneforge.cli.train",
        "tuneforge.data.digits",
        "tuneforge.data.image_folder",
        "tuneforge.data.tabular",
        "tuneforge.data.text",
        "tuneforge.data.text_classification",
        "tuneforge.data.vision",
    ):
        importlib.import_module(name)
    Plugins.instance()  # Hydra's scan of the installed plugins


def _run_child(request: dict, out, err) -> None:
    """In the fork: become the command, run it, and exit with its status."""
    sys.stdout.flush()
    os.dup2(out.fileno(), 1)
    os.dup2(err.fileno(), 2)
    stdin = os.open(os.devnull, os.O_RDONLY)
    os.dup2(stdin, 0)
    sys.stdin = open(os.devnull)  # noqa: SIM115 - the command's stdin for its whole life
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    # PYTHONPATH acts when an interpreter starts; this one started before the command's.
    paths = [p for p in request["env"].get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[:0] = [p for p in paths if p not in sys.path]
    from tuneforge.cli.main import exit_status, main
    from tuneforge.processes import exit_without_teardown

    sys.argv = [request["program"], *request["args"]]
    try:
        main(request["args"])
        code = 0
    except SystemExit as ex:
        code = exit_status(ex)
    except BaseException:
        traceback.print_exc()
        code = 1
    exit_without_teardown(code)  # as the `tuneforge` program ends


def serve() -> None:
    _preload()
    for line in sys.stdin:
        request = json.loads(line)
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            sys.stdout.flush()
            pid = os.fork()
            if pid == 0:
                _run_child(request, out, err)
            _, status = os.waitpid(pid, 0)
            out.seek(0)
            err.seek(0)
            reply = {
                "returncode": os.waitstatus_to_exitcode(status),
                "stdout": out.read().decode(errors="replace"),
                "stderr": err.read().decode(errors="replace"),
            }
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    serve()
