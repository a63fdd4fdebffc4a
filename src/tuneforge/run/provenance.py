"""What a run records about the code that made it: git commit and library versions."""

import subprocess
from importlib import metadata
from pathlib import Path

import tuneforge


def git_commit() -> str | None:
    """The commit of the tuneforge checkout this code runs from, with `+dirty` for local edits.

    None for an installed wheel, or where git is missing.
    """
    package_dir = Path(tuneforge.__file__).parent

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(package_dir), *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        git("ls-files", "--error-unmatch", "__init__.py")  # our package is tracked by this repo
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{commit}+dirty" if dirty else commit


def versions() -> dict[str, str]:
    return {
        f"versions/{name}": metadata.version(name) for name in ("torch", "lightning", "tuneforge")
    }
