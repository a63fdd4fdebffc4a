"""A Summary as Markdown that any git host renders: pipe tables, images by relative paths."""

from pathlib import Path

from tuneforge.reporting.summary import Summary, Table


def to_markdown(summary: Summary) -> str:
    lines = [f"# {summary.title}", ""]
    for note in summary.notes:
        lines += [note, ""]
    for table in summary.tables:
        lines += [f"## {table.title}", "", *_table(table), ""]
    if summary.plots:
        lines += ["## Plots", ""]
        for plot in summary.plots:
            lines += [f"![{Path(plot).stem}]({plot})", ""]
            if plot in summary.captions:
                lines += [f"*{summary.captions[plot]}*", ""]
    return "\n".join(lines)


def _table(table: Table) -> list[str]:
    def row(cells: list[str]) -> str:
        return "| " + " | ".join(_cell(cell) for cell in cells) + " |"

    return [row(table.columns), row(["---"] * len(table.columns)), *map(row, table.rows)]


def _cell(text: str) -> str:
    """Text that stays inside its table cell: pipes escaped, on one line."""
    return text.replace("|", "\\|").replace("\n", " ")
