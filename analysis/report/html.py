"""Self-contained report.html (CSS inline, plots embedded as data URIs)."""

from __future__ import annotations

import base64
import html
import re

from analysis.report.document import blocks

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
table{border-collapse:collapse;margin:0.8em 0;font-size:0.9em}
th,td{border:1px solid #ccc;padding:0.25em 0.6em;text-align:left}
th{background:#f2f2f2}
tr:nth-child(even) td{background:#fafafa}
.note{border-left:4px solid #d9a400;background:#fff8e1;padding:0.4em 0.8em}
img{max-width:100%;display:block;margin:0.6em 0}
"""


def _inline(text: str) -> str:
    escaped = html.escape(str(text))
    return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escaped)


def render_html(report: dict, images: dict[str, bytes] | None = None) -> str:
    """HTML page of the report; ``images`` (file name -> PNG bytes) are embedded inline."""
    images = images or {}
    title = html.escape(f"MUSHRA report: {report['input'].get('test', '')}")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{title}</title><style>{_CSS}</style></head><body>",
    ]
    for kind, payload in blocks(report, with_plots=bool(images)):
        if kind in ("h1", "h2", "h3"):
            parts.append(f"<{kind}>{_inline(payload)}</{kind}>")
        elif kind == "p":
            parts.append(f"<p>{_inline(payload)}</p>")
        elif kind == "note":
            parts.append(f'<p class="note">{_inline(payload)}</p>')
        elif kind == "list":
            parts.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in payload) + "</ul>")
        elif kind == "table":
            header, rows = payload
            head = "".join(f"<th>{_inline(h)}</th>" for h in header)
            body = "".join(
                "<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>" for row in rows
            )
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif kind == "img":
            name, alt = payload
            if name in images:
                data = base64.b64encode(images[name]).decode("ascii")
                parts.append(f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
