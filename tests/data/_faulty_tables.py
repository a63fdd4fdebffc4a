"""Small CSV tables with the faults that real exports have, written by the tests that read them."""

import csv
from pathlib import Path

HEADER = ["id", "age", "weight", "color", "label"]
MISSING_WEIGHT = {3: "?", 17: " NA ", 29: ""}
MISSING_COLOR = {5: "n/a", 23: "NULL"}
MISSING_LABEL = 50
COLORS = ["red", " Red", "RED ", "blue", "Blue"]  # two colors once stripped and case-folded


def pet_rows(n: int = 60, messy: bool = True, outliers: tuple[int, ...] = (41,)) -> list[list[str]]:
    """Rows of pets: an id, an age (20 to 26), a weight unique per row, a color, a cat/dog label.

    Messy rows add what the tests count: 3 missing weights, 2 missing colors, 1 missing label,
    stray white space and mixed case, a weight of 99999 on each row in `outliers`, and 3
    duplicates (rows 0 and 1 repeated, row 2 repeated with its color written differently).
    """
    rows = []
    for i in range(n):
        label = ("cat", " Cat", "CAT ")[i % 3] if i % 2 else "dog"
        row = [str(100 + i), str(20 + i % 7), f"{10 + 0.37 * i:.2f}", COLORS[i % 5], label]
        if messy:
            row[2] = "99999" if i in outliers else MISSING_WEIGHT.get(i, row[2])
            row[3] = MISSING_COLOR.get(i, row[3])
            row[4] = "?" if i == MISSING_LABEL else row[4]
        rows.append(row)
    if messy:
        rows += [rows[0], rows[1], [*rows[2][:3], "red", rows[2][4]]]
    return rows


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([header, *rows])
    return path
