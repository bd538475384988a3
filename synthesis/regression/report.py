"""The regression check as Markdown: a verdict line, the diff table and the listening set.

Written for ``$GITHUB_STEP_SUMMARY`` (GitHub renders it on the job page) and for a terminal.
"""

from __future__ import annotations

import math

from synthesis.regression.compare import MetricComparison

_MARK = {"worse": "**worse**", "undefined": "**undefined**", "better": "better", "ok": "ok", "n/a": "n/a"}


def _fmt(x: float | None, digits: int) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x:.{digits}f}"


def _signed(x: float | None, digits: int) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x:+.{digits}f}"


def verdict_line(rows: list[MetricComparison]) -> str:
    failed = [r for r in rows if r.fails]
    if failed:
        names = ", ".join(r.spec.label for r in failed)
        return f"FAIL: the candidate is worse than the release beyond tolerance in {len(failed)} metric(s): {names}"
    return "PASS: the candidate is within tolerance of the release on every gated metric"


def diff_table(rows: list[MetricComparison]) -> str:
    """The table of metrics (Markdown; readable as plain text too)."""
    head = ("| metric | unit | sentences | release | candidate | natural | worse by | tolerance | "
            "p (Wilcoxon) | verdict |")
    lines = [head, "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        d = r.spec.digits
        gate = "" if r.gate else " (not gated)"
        lines.append(f"| {r.spec.label} | {r.spec.unit} | {r.n_sentences} | {_fmt(r.release, d)} | "
                     f"{_fmt(r.candidate, d)} | {_fmt(r.target, d)} | {_signed(r.worsening, d)} | "
                     f"{_fmt(r.tolerance, d)} | {_fmt(r.p_value, 3)} | {_MARK[r.verdict]}{gate} |")
    return "\n".join(lines)


def summary_markdown(rows: list[MetricComparison], release: dict, candidate: dict, n_sentences: int,
                     n_recorded: int, set_info: dict, texts: dict[str, str]) -> str:
    """The whole ``summary.md``.

    Args:
        release, candidate: ``Synthesizer.describe()`` of each version (plus ``path``).
        set_info: ``dir`` (relative to the output folder), ``items``, ``conditions`` (labels).
        texts: sentence id -> text (for the worst sentences).
    """
    out = [f"## TTS regression check: {verdict_line(rows)}", ""]
    for name, info in (("release", release), ("candidate", candidate)):
        mode = f", mode {info['mode']}" if info.get("mode") else ""
        out.append(f"- **{name}**: `{info['checkpoint']}` ({info.get('system')}{mode}, step {info.get('step')}, "
                   f"sha256 {info.get('checkpoint_hash')}, config {info.get('config_hash')})")
    out += [f"- sentences: {n_sentences} ({n_recorded} with a recording; reference-based metrics use those)",
            "", diff_table(rows), "",
            ("*worse by*: how much further the candidate is from the better side than the release "
             "(for *natural* metrics: from the recordings' value), in the metric's unit; a gated metric "
             "fails when it exceeds the tolerance. p: paired Wilcoxon signed-rank test over sentences "
             "(for information; the gate is the tolerance)."), ""]
    worst = [r for r in rows if r.worst and r.verdict in ("worse", "undefined")]
    if worst:
        out.append("### Sentences where the candidate lost most")
        out.append("")
        for r in worst:
            d = r.spec.digits
            items = "; ".join(f"`{w['id']}` {_fmt(w['release'], d)} -> {_fmt(w['candidate'], d)} "
                              f"({texts.get(w['id'], '')[:60]!r})" for w in r.worst)
            out.append(f"- {r.spec.label}: {items}")
        out.append("")
    out.append("### Listening set for a human check")
    out.append("")
    if set_info.get("items"):
        out.append(f"`{set_info['dir']}/`: a MUSHRA set (ITU-R BS.1534-3) of {set_info['items']} sentences x "
                   f"{len(set_info['conditions'])} conditions ({', '.join(set_info['conditions'])}). Only "
                   "sentences with a recording can be in it: a MUSHRA trial needs the natural recording as "
                   "its reference and hidden reference. Every sentence's audio of both versions is in "
                   "`wavs/release/` and `wavs/candidate/`.")
        if set_info.get("merged"):
            out.append("")
            out.append("Both versions said every sentence identically, so they are one condition in the set.")
        elif set_info.get("identical_left_out"):
            out.append("")
            out.append(f"Left out because both versions said them identically: "
                       f"{', '.join(set_info['identical_left_out'])}.")
        out.append("")
        out.append("Serve it with")
        out.append("")
        out.append(f"    evalapp serve --set {set_info['dir']} --db sqlite:///regress.db --admin-token <TOKEN>")
    else:
        out.append("No listening set: none of the sentences has a recording. The audio of both versions is "
                   "in `wavs/release/` and `wavs/candidate/`.")
    out.append("")
    return "\n".join(out)
