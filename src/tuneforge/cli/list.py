"""`tuneforge list [GROUP] [--path GROUP/CHOICE]`: what the shipped configs offer.

The groups with their number of choices; a group's choices, each with the first sentence of its
header comment and the header's `Run:` command; or where one shipped file is (inside the
installed package, for a pip user), to copy out and change. It reads conf/ as files: no Hydra,
no torch.
"""

import argparse
import difflib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from tuneforge.configs import config_dir
from tuneforge.errors import ConfigError

# The command a header gives: the rest of its line after `Run: ` (or `View: `, to look at what
# a choice wrote). One line, so that a terminal's copy-and-paste runs it.
COMMAND = re.compile(r"(?:^|\s)(?:Run|View): (.+)$")


@dataclass(frozen=True)
class Header:
    """A config file's opening comment: what the file is, and a command that uses it."""

    summary: str
    command: str | None


def read_header(path: Path) -> Header:
    """The first sentence of `path`'s header comment (its `# @package` line aside) and the
    command of its first `Run:` (or `View:`) line."""
    lines = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        if not line.startswith("# @package"):
            lines.append(line.removeprefix("#").strip())
    command = next((m.group(1).strip() for m in map(COMMAND.search, lines) if m), None)
    prose = COMMAND.split(" ".join(lines), maxsplit=1)[0]
    return Header(re.split(r"(?<=\.)\s", prose, maxsplit=1)[0].strip(), command)


def groups(conf: Path) -> dict[str, list[str]]:
    """Each config group under `conf` (nested ones as `hydra/launcher`), with its choices."""
    found: dict[str, list[str]] = {}
    for path in sorted(conf.rglob("*.yaml")):
        if path.parent != conf:
            found.setdefault(path.parent.relative_to(conf).as_posix(), []).append(path.stem)
    return dict(sorted(found.items()))


def _unknown(what: str, name: str, known: list[str], fix: str) -> ConfigError:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return ConfigError(f"no config {what} '{name}'{hint}; {fix}")


def choices(conf: Path, group: str) -> list[str]:
    """The choices of `group`; a ConfigError naming the closest group when there is none."""
    found = groups(conf)
    if group not in found:
        raise _unknown("group", group, list(found), "tuneforge list shows the groups")
    return found[group]


def shipped_path(conf: Path, name: str) -> Path:
    """The shipped file of `name`, GROUP/CHOICE; a ConfigError naming the closest one."""
    found = groups(conf)
    if name in found:
        raise ConfigError(
            f"{name} is a config group; name one of its choices, as --path {name}/"
            f"{found[name][0]} (tuneforge list {name} shows them)"
        )
    group, _, choice = name.removesuffix(".yaml").rpartition("/")
    if choice not in found.get(group, []):
        known = [f"{g}/{c}" for g, cs in found.items() for c in cs]
        fix = f"tuneforge list {group}" if group in found else "tuneforge list GROUP"
        raise _unknown("file", name, known, f"{fix} shows the choices")
    return conf / group / f"{choice}.yaml"


def copy_hint(path: Path, conf: Path) -> str:
    """How to change a shipped config: a copy under a new name in a folder of your own, which
    --config-dir adds to the search path (under the shipped name, the shipped file is read)."""
    group = path.parent.relative_to(conf).as_posix()
    mine = f"my_{path.stem}"
    return (
        f"to change it, copy it under a new name and train with the copy: mkdir -p my_conf/{group} "
        f'&& cp "{path}" my_conf/{group}/{mine}.yaml && tuneforge train --config-dir my_conf '
        f"{group}={mine}"
    )


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tuneforge list",
        description=(
            "List the shipped config groups; with GROUP, its choices, what each is and a command "
            "that uses it."
        ),
        epilog="Examples: tuneforge list model; tuneforge list --path model/cnn",
    )
    parser.add_argument("group", nargs="?", help="a config group: model, experiment, ...")
    parser.add_argument(
        "--path",
        metavar="GROUP/CHOICE",
        help="print where that shipped config file is, to copy it out (e.g. model/cnn)",
    )
    return parser


def _console() -> Console:
    """Rich's console, as wide as the terminal; piped, one line per row, to grep or read."""
    console = Console()
    return console if console.is_terminal else Console(width=10_000)


def main(args: list[str]) -> None:
    options = parser().parse_args(args)
    conf = config_dir()
    if options.path is not None:
        path = shipped_path(conf, options.path)
        print(path)
        print(copy_hint(path, conf), file=sys.stderr)
        return
    if options.group is None:
        table = Table("group", "choices")
        for group, names in groups(conf).items():
            table.add_row(group, str(len(names)))
        _console().print(table)
        print("tuneforge list GROUP: its choices, what each is and a command that uses it")
        return
    table = Table("choice", "what it is, and a command that uses it")
    for choice in choices(conf, options.group):
        header = read_header(conf / options.group / f"{choice}.yaml")
        text = Text(header.summary)
        if header.command is not None:
            text.append("\n" + header.command, style="cyan")
        table.add_row(choice, text)
    _console().print(table)
