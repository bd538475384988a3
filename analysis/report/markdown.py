"""report.md from the report dict."""

from __future__ import annotations

from analysis.report.document import blocks


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(report: dict, with_plots: bool = True) -> str:
    """Markdown text of the report; images are referenced as the PNG files beside it."""
    lines: list[str] = []
    for kind, payload in blocks(report, with_plots):
        if kind in ("h1", "h2", "h3"):
            lines += ["#" * int(kind[1]) + " " + payload, ""]
        elif kind == "p":
            lines += [payload, ""]
        elif kind == "note":
            lines += [f"> {payload}", ""]
        elif kind == "list":
            lines += [f"- {item}" for item in payload] + [""]
        elif kind == "table":
            header, rows = payload
            lines.append("| " + " | ".join(_cell(h) for h in header) + " |")
            lines.append("|" + "|".join("---" for _ in header) + "|")
            lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
            lines.append("")
        elif kind == "img":
            name, alt = payload
            lines += [f"![{alt}]({name})", ""]
    return "\n".join(lines).rstrip() + "\n"
