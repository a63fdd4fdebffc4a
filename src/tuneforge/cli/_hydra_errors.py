"""Turn Hydra's and OmegaConf's composition errors into one line that names the key and the fix."""

import difflib
import re

from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
from omegaconf.errors import OmegaConfBaseException


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


def unknown_key(ex: ConfigCompositionException, known_keys: list[str]) -> str:
    """`trainer.max_epoch=3` -> the key, a close match in `known_keys`, and the `+` to add one."""
    key = overridden_key(ex) or ""
    close = difflib.get_close_matches(key, known_keys, n=1, cutoff=0.75)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"{key} is not a key of the config{hint}; to add a new key, write +{key}=VALUE"


def describe_hydra_error(ex: Exception, known_keys: list[str]) -> str | None:
    """One line for a Hydra or OmegaConf error, or None when `ex` is neither."""
    if isinstance(ex, MissingConfigException):
        return unknown_choice(ex)
    if isinstance(ex, OverrideParseException):
        return f"cannot parse the override: {_first_line(str(ex))}. Write overrides as key=value"
    if isinstance(ex, ConfigCompositionException):
        if "Could not override" in str(ex) and "not in struct" in str(ex.__cause__):
            return unknown_key(ex, known_keys)
        text = _first_line(str(ex))
        if ex.__cause__ is not None:
            text += f": {_first_line(str(ex.__cause__))}"
        return text
    if isinstance(ex, OmegaConfBaseException):
        return _first_line(str(ex))
    if isinstance(ex, ValueError) and "Config group override must be" in str(ex):
        return "a config group cannot be set to null; choose an option (e.g. scheduler=none)"
    return None
