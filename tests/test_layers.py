"""The layer rule: each package of tuneforge imports only the packages below it, read from the
source of every module (function-level imports too, which are how a layer reaches a heavy
library lazily), and no module imports another package's private (`_name`) module."""

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import tuneforge

# Modules at the bottom: constants and small helpers every layer may use.
BOTTOM = {"tuneforge.errors", "tuneforge.configs", "tuneforge.checkpoint_format"}
BOTTOM |= {"tuneforge.atomic_files", "tuneforge.caches"}
BOTTOM |= {"tuneforge.processes", "tuneforge.trial_keys", "tuneforge.figures"}
TRAINING = {"tuneforge.models", "tuneforge.data", "tuneforge.finetune", "tuneforge.tasks"}
TRAINING |= {"tuneforge.callbacks", "tuneforge.sweeps"}
# The root package holds the version, which run/ writes into checkpoints and provenance.
ROOT = "tuneforge"
API = "tuneforge.api"
# What each layer may import besides itself; a module of a layer not named here is a bug of
# this table. `tuneforge` is the root package (its __init__, and any api.py beside it).
MAY_IMPORT = {
    "bottom": set(),
    "tuneforge.models": BOTTOM,
    "tuneforge.data": BOTTOM,
    "tuneforge.finetune": BOTTOM | {"tuneforge.models"},
    "tuneforge.tasks": BOTTOM | {"tuneforge.models"},
    "tuneforge.callbacks": BOTTOM,
    "tuneforge.reporting": BOTTOM,
    "tuneforge.sweeps": BOTTOM,
    "tuneforge.run": BOTTOM | TRAINING | {"tuneforge.reporting", ROOT},
    "tuneforge.cli": BOTTOM | TRAINING | {"tuneforge.reporting", "tuneforge.run", ROOT},
    # api.py is the second front end beside cli/: it runs the verbs and shows their errors
    API: BOTTOM | TRAINING | {"tuneforge.reporting", "tuneforge.run", "tuneforge.cli", ROOT},
    # the root holds the version and hands `tuneforge.train` and the rest to api.py on first use
    ROOT: {API},
}
RULES = {
    "bottom": "a bottom-level module imports nothing of tuneforge",
    "tuneforge.models": "models/ imports nothing above it",
    "tuneforge.data": "data/ may use errors and the bottom-level modules only",
    "tuneforge.finetune": "finetune/ may import models (interfaces) only",
    "tuneforge.tasks": "tasks/ is lightning and torchmetrics, and may import models only",
    "tuneforge.callbacks": "callbacks/ ask for what they need through arguments and Protocols, "
    "never import finetune, reporting or another layer",
    "tuneforge.reporting": "reporting/ reads run folders back and imports nothing of training",
    "tuneforge.sweeps": "sweeps/ is optuna and errors only",
    "tuneforge.run": "run/ may import every layer below it, never cli/",
    "tuneforge.cli": "cli/ may import everything",
    API: "api.py is a front end, as cli/ is",
    ROOT: "the package's root imports api.py alone, and that lazily",
}
SOURCE = Path(tuneforge.__file__).parent


def _modules() -> list[str]:
    names = [ROOT]
    names += [m.name for m in pkgutil.walk_packages(tuneforge.__path__, prefix=f"{ROOT}.")]
    return [name for name in names if not name.startswith("tuneforge.conf")]


MODULES = _modules()


def _path(module: str) -> Path:
    parts = module.split(".")[1:]
    package = SOURCE.joinpath(*parts)
    return package / "__init__.py" if package.is_dir() else package.with_suffix(".py")


def _is_package(module: str) -> bool:
    return _path(module).name == "__init__.py"


def _imports(module: str, path: Path) -> list[tuple[str, int]]:
    """Every tuneforge module that `module`'s source, `path`, imports anywhere in it, with its
    line. `from PACKAGE import NAME` counts as importing PACKAGE.NAME where NAME is a module."""
    package = module if _is_package(module) else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.append((base, node.lineno))
            found += [
                (f"{base}.{alias.name}", node.lineno)
                for alias in node.names
                if _path(f"{base}.{alias.name}").is_file()
            ]
    return [(name, line) for name, line in found if name.split(".")[0] == ROOT]


def _layer(module: str) -> str:
    """The layer of a module: its package under tuneforge, the root, or the bottom."""
    if module in BOTTOM:
        return "bottom"
    if module == f"{ROOT}.__main__":  # `python -m tuneforge`: the command
        return "tuneforge.cli"
    if module == ROOT or not _path(module).parent.samefile(SOURCE) or _is_package(module):
        return ".".join(module.split(".")[:2])
    if module == API:
        return API
    raise AssertionError(f"{module} is beside the root's __init__ but in no layer: add it to one")


def _shown(path: Path) -> str:
    return str(path.relative_to(SOURCE.parent)) if path.is_relative_to(SOURCE.parent) else str(path)


def _imported_layer(name: str) -> str:
    """The layer an imported name belongs to (`tuneforge.errors.ConfigError` is the bottom)."""
    parts = name.split(".")
    for length in range(len(parts), 0, -1):
        candidate = ".".join(parts[:length])
        if candidate in BOTTOM:
            return candidate
    return ROOT if len(parts) == 1 else ".".join(parts[:2])


@pytest.mark.parametrize("module", MODULES)
def test_every_module_imports(module):
    assert importlib.import_module(module).__name__ == module


def test_every_package_is_in_the_layer_table():
    unknown = {_layer(module) for module in MODULES} - MAY_IMPORT.keys()
    assert not unknown, f"no layer rule for {sorted(unknown)}: add one to MAY_IMPORT"


def _upward(module: str, path: Path) -> list[str]:
    layer = _layer(module)
    allowed = MAY_IMPORT[layer]
    wrong = []
    for name, line in _imports(module, path):
        imported = _imported_layer(name)
        if imported == layer or (layer == "bottom" and imported == module):
            continue
        if layer != "bottom" and imported in allowed:
            continue
        wrong.append(f"{_shown(path)}:{line} imports {name}, but {RULES[layer]}")
    return wrong


def _private(module: str, path: Path) -> list[str]:
    """Imports of a `_name` module from outside the package that holds it."""
    wrong = []
    for name, line in _imports(module, path):
        parts = name.split(".")
        private = next((i for i, part in enumerate(parts) if part.startswith("_")), None)
        if private is None or parts[private].startswith("__"):
            continue
        owner = ".".join(parts[:private])
        if not _path(".".join(parts[: private + 1])).is_file():
            continue  # a private name inside a module, not a module
        if module != owner and not module.startswith(f"{owner}."):
            wrong.append(
                f"{_shown(path)}:{line} imports {name}, a private "
                f"module of {owner}: only {owner}'s own modules may import it"
            )
    return wrong


def test_no_module_imports_a_layer_above_its_own():
    wrong = [line for module in MODULES for line in _upward(module, _path(module))]
    assert not wrong, "\n".join(wrong)


def test_no_module_imports_another_packages_private_module():
    wrong = [line for module in MODULES for line in _private(module, _path(module))]
    assert not wrong, "\n".join(wrong)


def test_an_upward_import_is_named_with_its_file_and_rule(tmp_path):
    """The checks find what they are for, in modules written for the purpose: a lazy import of
    finetune in callbacks, and run's import of data's private module."""
    source = tmp_path / "upward.py"
    source.write_text(
        "import torch\n\n\ndef f():\n    from tuneforge.finetune.strategies import plan\n"
        "    from tuneforge.callbacks import _base\n"
    )
    (upward,) = _upward("tuneforge.callbacks.upward", source)
    assert upward == (
        f"{source}:5 imports tuneforge.finetune.strategies, but {RULES['tuneforge.callbacks']}"
    )
    assert _private("tuneforge.callbacks.upward", source) == []  # its own package's
    source.write_text("from tuneforge.data import _base\n")
    assert _upward("tuneforge.run.upward", source) == []
    (private,) = _private("tuneforge.run.upward", source)
    assert private.startswith(f"{source}:1 imports tuneforge.data._base, a private module of")
