"""What loading pretrained weights did, kept so that a silent partial load cannot go unnoticed.

`load_state_dict(strict=False)` returns missing and unexpected names and nothing else: a
checkpoint of another architecture "loads" with every tensor skipped. The report also lists the
tensors skipped for their shape and says whether the classifier head kept its fresh init, so a run
folder's `load_report.json` answers "what did this fine-tune actually start from?".
"""

from dataclasses import dataclass, field
from typing import Any

from rich.table import Table

SHOWN = 10  # names per kind in the table; to_dict() keeps them all


@dataclass
class LoadReport:
    """The comparison of a weights file with a model, and what was loaded.

    Attributes:
        source: the file or folder the weights came from.
        source_tensors: how many tensors the source holds.
        matched: model names loaded from the source.
        missing: model names the source lacks; they keep the model's init.
        unexpected: source names the model lacks (after prefix stripping and key_map).
        mismatched: model names present in both with another shape, not loaded:
            name -> (shape in the source, shape in the model).
        head: the classifier head's module name, or None when the model has none.
        head_reset: whether the head was not loaded and keeps its fresh init.
        head_message: why, for people ("head reset for 10 classes (the weights have 1000)").
        stripped_prefixes: wrapper prefixes removed from source names ("model.", "module.").
        renamed: names changed by key_map or paired automatically: source name -> model name.
        layout: the source's layout where it is not the model's and was converted before
            matching ("Hugging Face GPT-2: ..."); a matched tensor holds the converted values.
        transposed: names (after conversion) of the tensors the conversion transposed.
        dropped: source names of constants the model computes itself (GPT-2's mask buffers).
    """

    source: str
    source_tensors: int
    matched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = field(default_factory=dict)
    head: str | None = None
    head_reset: bool = False
    head_message: str = ""
    stripped_prefixes: list[str] = field(default_factory=list)
    renamed: dict[str, str] = field(default_factory=dict)
    layout: str = ""
    transposed: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        """How many names of each kind; the numbers a reader checks first."""
        return {
            "source_tensors": self.source_tensors,
            "matched": len(self.matched),
            "missing": len(self.missing),
            "unexpected": len(self.unexpected),
            "mismatched": len(self.mismatched),
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types, every name included, for the run folder's `load_report.json`."""
        return {
            "source": self.source,
            "counts": self.counts,
            "head": self.head,
            "head_reset": self.head_reset,
            "head_message": self.head_message,
            "stripped_prefixes": list(self.stripped_prefixes),
            "renamed": dict(self.renamed),
            "layout": self.layout,
            "transposed": list(self.transposed),
            "dropped": list(self.dropped),
            "matched": list(self.matched),
            "missing": list(self.missing),
            "unexpected": list(self.unexpected),
            "mismatched": {
                name: {"source": list(src), "model": list(dst)}
                for name, (src, dst) in self.mismatched.items()
            },
        }

    def summary(self) -> str:
        """One line for the log: how much was loaded and what was not."""
        line = (
            f"loaded {len(self.matched)} of the model's "
            f"{len(self.matched) + len(self.missing) + len(self.mismatched)} tensors from "
            f"'{self.source}' ({len(self.missing)} missing, {len(self.mismatched)} "
            f"shape-mismatched, {len(self.unexpected)} unexpected)"
        )
        return "; ".join(part for part in (line, self.layout, self.head_message) if part)

    def table(self) -> Table:
        """Counts and the first names of each kind, for the terminal (print it with rich)."""
        caption = "; ".join(line for line in (self.layout, self.head_message) if line)
        table = Table(title=f"Weights from {self.source}", caption=caption or None)
        table.add_column("kind")
        table.add_column("count", justify="right")
        table.add_column(f"names (first {SHOWN})", overflow="fold")
        mismatched = [f"{n} {list(s)} -> {list(m)}" for n, (s, m) in self.mismatched.items()]
        rows = [
            ("loaded", self.matched),
            ("missing", self.missing),
            ("shape-mismatched", mismatched),
            ("unexpected", self.unexpected),
            ("renamed", [f"{a} -> {b}" for a, b in self.renamed.items()]),
            ("stripped prefixes", self.stripped_prefixes),
            ("transposed", self.transposed),
            ("dropped (constants)", self.dropped),
        ]
        for kind, names in rows:
            if kind in ("loaded", "missing", "shape-mismatched", "unexpected") or names:
                table.add_row(kind, str(len(names)), _first(names))
        return table


def _first(names: list[str]) -> str:
    shown = "\n".join(names[:SHOWN])
    more = len(names) - SHOWN
    return f"{shown}\n... and {more} more" if more > 0 else shown
