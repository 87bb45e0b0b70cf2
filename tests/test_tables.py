"""Tables as `compare`, `models` and the benchmark scripts print them: text, Markdown, CSV."""

from __future__ import annotations

import pytest

from cnnzoo.utils.tables import csv_table, markdown_table, numeric_columns, render, text_table

pytestmark = pytest.mark.fast

HEADERS = ["model", "params", "accuracy"]
ROWS = [["lenet", "61,706", 0.99], ["resnet18", "11,181,642", ""]]


def test_text_table_aligns_numbers_right_and_text_left() -> None:
    lines = text_table(HEADERS, ROWS).splitlines()
    assert lines == [
        "model         params  accuracy",
        "--------  ----------  --------",
        "lenet         61,706      0.99",
        "resnet18  11,181,642",
    ]


def test_numbers_with_thousands_separators_and_blanks_count_as_numeric() -> None:
    assert numeric_columns(ROWS) == [False, True, True]
    assert numeric_columns([]) == []


def test_markdown_table_marks_alignment_and_escapes_pipes() -> None:
    lines = markdown_table(["name", "value"], [["a|b", 1]]).splitlines()
    assert lines == ["| name | value |", "| :-- | --: |", "| a\\|b | 1 |"]


def test_csv_table_quotes_what_needs_quoting() -> None:
    assert csv_table(["name", "note"], [["a", "x, y"]]) == 'name,note\na,"x, y"'


def test_render_picks_the_format() -> None:
    assert render(HEADERS, ROWS, "markdown") == markdown_table(HEADERS, ROWS)
    assert render(HEADERS, ROWS) == text_table(HEADERS, ROWS)
