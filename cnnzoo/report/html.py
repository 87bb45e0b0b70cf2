"""HTML pieces of the run report: one self-contained page, responsive, light and dark, no script.

Pictures are inlined as data URIs; a Content-Security-Policy forbids anything from the network,
so the page opens the same offline, from an e-mail attachment or from a phone's file browser.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from html import escape
from typing import Any

from cnnzoo.utils.outputs import creator

KIND = "report"  # what `outputs` calls a page this module writes
GENERATOR = creator(KIND)  # <meta name="generator">: how cnnzoo recognises its own page

CSS = """
:root { color-scheme: light dark; --bg: #fbfbfd; --fg: #1d1f23; --muted: #5f6570;
  --card: #ffffff; --line: #d9dce3; --accent: #2759c4; --good: #1a7f37; --bad: #b42318; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #111318; --fg: #e6e8ec; --muted: #a2a8b3; --card: #1b1e25; --line: #343945;
    --accent: #8fb3ff; --good: #56d364; --bad: #ff7b72; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 1100px; margin: 0 auto; padding: 1rem clamp(0.75rem, 3vw, 2rem) 3rem; }
h1 { font-size: clamp(1.4rem, 4vw, 2rem); margin: 0.5rem 0 0.25rem; overflow-wrap: anywhere; }
h2 { font-size: 1.3rem; margin: 2rem 0 0.5rem; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.05rem; margin: 1.25rem 0 0.5rem; }
a { color: var(--accent); }
.muted { color: var(--muted); }
.cards { display: grid; gap: 0.75rem;
  grid-template-columns: repeat(auto-fit, minmax(9.5rem, 1fr)); }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  padding: 0.6rem 0.8rem; }
.card .value { font-size: 1.45rem; font-weight: 600; }
.card .label { color: var(--muted); font-size: 0.85rem; }
figure { margin: 0.75rem 0; }
figure img { display: block; max-width: 100%; height: auto; border-radius: 8px;
  background: #fff; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: 0.9rem; margin-top: 0.3rem; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; }
table { border-collapse: collapse; font-size: 0.92rem; min-width: 18rem; }
th, td { padding: 0.3rem 0.6rem; border-bottom: 1px solid var(--line); text-align: left;
  white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
  padding: 0.75rem; overflow-x: auto; font-size: 0.85rem; }
nav ul { padding-left: 1.2rem; }
details summary { cursor: pointer; font-weight: 600; margin: 0.5rem 0; }
"""

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def data_uri(png: bytes) -> str:
    """A PNG's bytes as a data: URI."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def figure(png: bytes, alt: str, caption: str = "") -> str:
    """An inlined picture with alt text and an optional caption."""
    caption_html = f"<figcaption>{escape(caption)}</figcaption>" if caption else ""
    return (
        f'<figure><img src="{data_uri(png)}" alt="{escape(alt)}" loading="eager">'
        f"{caption_html}</figure>"
    )


def cards(items: Sequence[tuple[str, str]]) -> str:
    """A row of big-number cards: (label, value)."""
    body = "".join(
        f'<div class="card"><div class="value">{escape(value)}</div>'
        f'<div class="label">{escape(label)}</div></div>'
        for label, value in items
    )
    return f'<div class="cards">{body}</div>'


def table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], numeric: set[int] = frozenset()
) -> str:
    """An HTML table (horizontally scrollable on narrow screens); `numeric` columns align right."""

    def cell(tag: str, index: int, value: Any) -> str:
        css = ' class="num"' if index in numeric else ""
        return f"<{tag}{css}>{escape(str(value))}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>" for row in rows
    )
    rows_html = f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
    return f'<div class="scroll"><table>{rows_html}</table></div>'


def pre(text: str) -> str:
    """Preformatted text (config YAML)."""
    return f"<pre>{escape(text)}</pre>"


def page(title: str, body: str) -> str:
    """The whole document."""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="generator" content="{GENERATOR}">
<link rel="icon" href="data:,">
<title>{escape(title)}</title>
<style>{CSS}</style>
</head>
<body>
<main>
{body}
</main>
</body>
</html>
"""
