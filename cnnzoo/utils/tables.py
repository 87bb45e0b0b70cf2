"""Rendering rows of cells as a plain-text table, a Markdown table or CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

FORMATS = ("table", "markdown", "csv")
Cell = str | int | float


def _is_number(cell: Cell) -> bool:
    try:
        float(str(cell).replace(",", ""))
    except ValueError:
        return str(cell) in ("", "-")
    return True


def numeric_columns(rows: Sequence[Sequence[Cell]]) -> list[bool]:
    """For each column, whether every cell is a number (or blank): those align right."""
    if not rows:
        return []
    return [all(_is_number(row[i]) for row in rows) for i in range(len(rows[0]))]


def text_table(headers: Sequence[str], rows: Sequence[Sequence[Cell]]) -> str:
    """A terminal table: numbers right-aligned, text left-aligned."""
    cells = [[str(cell) for cell in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    right = numeric_columns(rows) or [False] * len(headers)

    def line(row: list[str]) -> str:
        padded = [
            cell.rjust(width) if align else cell.ljust(width)
            for cell, width, align in zip(row, widths, right, strict=True)
        ]
        return "  ".join(padded).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(cells[0]), rule, *(line(row) for row in cells[1:])])


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Cell]]) -> str:
    """A GitHub-flavoured Markdown table, numbers right-aligned, text left-aligned."""

    def escape(cell: Cell) -> str:
        return str(cell).replace("|", "\\|")

    right = numeric_columns(rows) or [False] * len(headers)
    align = ["--:" if numeric else ":--" for numeric in right]
    lines = ["| " + " | ".join(escape(h) for h in headers) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(escape(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def csv_table(headers: Sequence[str], rows: Sequence[Sequence[Cell]]) -> str:
    """CSV with a header row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows(rows)
    return buffer.getvalue().rstrip("\n")


def render(headers: Sequence[str], rows: Sequence[Sequence[Cell]], fmt: str = "table") -> str:
    """Render in one of FORMATS."""
    assert fmt in FORMATS, fmt
    return {"table": text_table, "markdown": markdown_table, "csv": csv_table}[fmt](headers, rows)
