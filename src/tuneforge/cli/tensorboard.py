"""`tuneforge tensorboard [DIR]`: serve TensorBoard on this folder's runs and sweeps (outputs/ and
multirun/) or on DIR, on this machine only, until Ctrl-C."""

import argparse
import threading
from pathlib import Path

from tuneforge.errors import ConfigError

# Where `tuneforge train` puts runs and sweeps, relative to the folder it runs in.
RUN_ROOTS = ("outputs", "multirun")


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tuneforge tensorboard",
        description=(
            "Serve TensorBoard on 127.0.0.1 over the runs under DIR (default: outputs/ and "
            "multirun/ of this folder) until Ctrl-C."
        ),
        epilog="Example: tuneforge tensorboard outputs/train --port 6006",
    )
    parser.add_argument("folder", type=Path, nargs="?", help="a folder that holds runs")
    parser.add_argument("--port", type=int, default=0, help="the port (default: a free one)")
    return parser


def logdir_flags(folder: Path | None) -> dict[str, str]:
    """TensorBoard's flag for where the runs are: DIR, or each of RUN_ROOTS here, by name."""
    if folder is not None:
        if not folder.is_dir():
            raise ConfigError(f"{folder} does not exist; name a folder that holds runs")
        return {"logdir": str(folder)}
    roots = [root for root in RUN_ROOTS if Path(root).is_dir()]
    if not roots:
        raise ConfigError(
            "no outputs/ or multirun/ here; run it where you trained (tuneforge train), "
            "or name a folder: tuneforge tensorboard DIR"
        )
    if len(roots) == 1:
        return {"logdir": roots[0]}
    return {"logdir_spec": ",".join(f"{root}:{root}" for root in roots)}


def main(args: list[str]) -> None:
    options = parser().parse_args(args)
    where = logdir_flags(options.folder)
    from tensorboard import program

    board = program.TensorBoard()
    # load_fast=false: the Python reader, which reads logdir_spec too.
    board.configure(host="127.0.0.1", port=options.port, load_fast="false", **where)
    try:
        url = _launch(board, options.port)
        print(f"TensorBoard at {url} (Ctrl-C to stop)", flush=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        print("Stopped.")


def _launch(board, port: int) -> str:
    """Start serving from a thread of its own; the address it serves at."""
    from tensorboard import program

    try:
        return board.launch()
    except program.TensorBoardServerException as ex:
        raise ConfigError(
            f"cannot serve on port {port}: {ex.msg}; choose another with --port PORT, "
            "or leave --port out for a free one"
        ) from ex
