"""Turn Hydra's and OmegaConf's composition errors into one line that names the key and the fix."""

import difflib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

import yaml
from hydra.errors import (
    ConfigCompositionException,
    MissingConfigException,
    OverrideParseException,
    SearchPathException,
)
from omegaconf.errors import OmegaConfBaseException

# Hydra's flags that each choose what the command does; it takes one of them at a time.
MODE_FLAGS = {
    "-r": "--run",
    "--run": "--run",
    "-m": "-m",
    "--multirun": "-m",
    "-c": "--cfg",
    "--cfg": "--cfg",
    "-i": "--info",
    "--info": "--info",
    "-sc": "--shell-completion",
    "--shell-completion": "--shell-completion",
}


@dataclass(frozen=True)
class Command:
    """What the failed command was: its verb, its arguments, and what its config holds without
    the override that failed (for 'did you mean' and for the groups the verb takes)."""

    verb: str = "train"
    args: Sequence[str] = ()
    known_keys: Sequence[str] = ()
    groups: Sequence[str] = ()


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), text)


def unknown_choice(ex: MissingConfigException) -> str:
    """`model=nope` -> the group, the bad choice and the choices there are."""
    missing = ex.missing_cfg_file or ""
    group, _, choice = missing.rpartition("/")
    options = sorted(ex.options or [])
    if not group or not options:
        return _first_line(str(ex))
    close = difflib.get_close_matches(choice, options, n=1)
    hint = f" (did you mean {group}={close[0]}?)" if close else ""
    return (
        f"{group}={choice} is not a choice of '{group}'{hint}; choose one of: {', '.join(options)}"
    )


def overridden_key(ex: Exception) -> str | None:
    """The key of the override that Hydra could not apply, if `ex` says which."""
    match = re.search(r"Could not override '([^']+)'", str(ex))
    return match.group(1) if match else getattr(ex.__cause__, "full_key", None)


def unknown_key(ex: ConfigCompositionException, known_keys: Sequence[str]) -> str:
    """`trainer.max_epoch=3` -> the key, a close match in `known_keys`, and the `+` to add one."""
    key = overridden_key(ex) or ""
    close = difflib.get_close_matches(key, known_keys, n=1, cutoff=0.75)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"{key} is not a key of the config{hint}; to add a new key, write +{key}=VALUE"


def group_not_taken(ex: ConfigCompositionException, command: Command) -> str:
    """`eval model=mlp`: a group that exists in conf/ but not in the verb's defaults list."""
    group = overridden_key(ex) or ""
    if "ckpt_path" in command.known_keys:  # eval, predict, export, generate
        return (
            f"tuneforge {command.verb} takes no {group}=... choice: the checkpoint's own config "
            f"decides it; the groups {command.verb} takes: {', '.join(command.groups) or 'none'}"
        )
    return (
        f"{group} is not a group that tuneforge {command.verb} composes; to add your own, write "
        f"+{group}=CHOICE"
    )


def yaml_error(ex: yaml.MarkedYAMLError) -> str:
    """A config file that is not YAML: the file, the line, and what the parser expected."""
    mark = ex.problem_mark or ex.context_mark
    where = f"the config file '{mark.name}'" if mark else "a config file"
    at = f" at line {mark.line + 1}" if mark else ""
    what = ex.problem or "a syntax error"
    if ex.context and ex.context_mark and ex.context_mark.line != getattr(mark, "line", None):
        what += f" ({ex.context} from line {ex.context_mark.line + 1})"
    elif ex.context:
        what = f"{ex.context}: {what}"
    return f"{where} is not valid YAML{at}: {what}; fix the file there"


def _yaml_error_in(ex: BaseException | None) -> yaml.MarkedYAMLError | None:
    """The YAML parser's error in `ex` or what caused it: Hydra passes it on as it is."""
    seen = set()
    while ex is not None and id(ex) not in seen:
        if isinstance(ex, yaml.MarkedYAMLError):
            return ex
        seen.add(id(ex))
        ex = ex.__cause__ or ex.__context__
    return None


def config_dir_error(ex: SearchPathException) -> str:
    """`--config-dir my_cnof`: the folder that is not there (Hydra says 'not found' for both)."""
    found = re.search(r"directory '([^']+)'", str(ex))
    folder = found.group(1) if found else ""
    what = "is not a folder" if folder and os.path.exists(folder) else "does not exist"
    return (
        f"--config-dir '{folder}' {what}; give the folder that holds your config files "
        "(tuneforge train --config-dir my_conf experiment=mine)"
    )


def one_mode_only(args: Sequence[str]) -> str:
    """`-m ... --cfg job`: Hydra runs, sweeps, prints the config or its info, one at a time."""
    given = list(dict.fromkeys(MODE_FLAGS[a] for a in args if a in MODE_FLAGS))
    if {"-m", "--cfg"} <= set(given):
        return (
            "-m and --cfg cannot go together: --cfg job prints one job's config, so drop -m and "
            "give each key one value (seed=1), or drop --cfg to run the sweep"
        )
    flags = " and ".join(given) if len(given) > 1 else "these flags"
    return f"{flags} cannot go together; give one of --run, -m, --cfg, --info"


def describe_hydra_error(ex: Exception, command: Command) -> str | None:
    """One line for a Hydra, OmegaConf or config-file error, or None when `ex` is none of them."""
    yaml_ex = _yaml_error_in(ex)
    if yaml_ex is not None:
        return yaml_error(yaml_ex)
    if isinstance(ex, SearchPathException):
        return config_dir_error(ex)
    if isinstance(ex, MissingConfigException):
        return unknown_choice(ex)
    if isinstance(ex, OverrideParseException):
        return f"cannot parse the override: {_first_line(str(ex))}. Write overrides as key=value"
    if isinstance(ex, ConfigCompositionException):
        if "Could not override" in str(ex) and "not in struct" in str(ex.__cause__):
            return unknown_key(ex, command.known_keys)
        if "No match in the defaults list" in str(ex):
            return group_not_taken(ex, command)
        text = _first_line(str(ex))
        if ex.__cause__ is not None:
            text += f": {_first_line(str(ex.__cause__))}"
        return text
    if isinstance(ex, OmegaConfBaseException):
        return _first_line(str(ex))
    if isinstance(ex, ValueError) and "Config group override must be" in str(ex):
        return "a config group cannot be set to null; choose an option (e.g. scheduler=none)"
    if isinstance(ex, ValueError) and str(ex).startswith("Only one of --run, --multirun"):
        return one_mode_only(command.args)
    return None
