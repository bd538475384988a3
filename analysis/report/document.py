"""The report's text as a list of blocks, rendered to markdown and HTML by sibling modules.

Blocks: ``("h1"|"h2"|"h3"|"p"|"note", text)``, ``("list", [text, ...])``,
``("table", (header, rows))`` and ``("img", (file name, alt text))``. Numbers are rounded here
and only here.
"""

from __future__ import annotations

import math

from analysis.report.plots import PLOT_FILES


def num(x, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and (math.isnan(x) or math.isinf(x))):
        return "–"
    return f"{x:.{digits}f}"


def pval(p) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "–"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def p_is(p) -> str:
    """'p < 0.001' or 'p = 0.034'."""
    text = pval(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def yes(b) -> str:
    return "yes" if b else "no"


def blocks(report: dict, with_plots: bool = True) -> list[tuple]:
    inp, scr, inf = report["input"], report["screening"], report["inference"]
    out: list[tuple] = [("h1", f"MUSHRA report: {inp.get('test', '')}")]
    design = inp["ratings_per_listener_item"]
    out.append(
        (
            "p",
            (
                f"Source: {inp.get('source', '')} ({inp.get('layout', '')}). {inp['n_ratings']} ratings "
                f"from {inp['n_listeners']} listeners on {inp['n_items']} items and "
                f"{len(inp['conditions'])} conditions; {inp['n_training_rows_ignored']} training rows "
                f"ignored. Items per listener: {design['items_per_listener_min']}-"
                f"{design['items_per_listener_max']}"
                + (
                    " (subset design)."
                    if design["subset_design"]
                    else " (every listener rated every item)."
                )
            ),
        )
    )

    gates = report["gates"]
    if gates["fail_if_worse"] or gates["expectations"]:
        out.append(("h2", "CI gate"))
        verdict = "PASSED" if gates["passed"] else "FAILED"
        out.append(("p", f"**{verdict}** (decided by {gates['decided_by']})."))
        if gates["failures"]:
            out.append(("list", gates["failures"]))
        if gates["expectations"]:
            out.append(
                (
                    "table",
                    (
                        ["expectation", "holds", "detail"],
                        [
                            [e["expression"], yes(e["holds"]), e["detail"]]
                            for e in gates["expectations"]
                        ],
                    ),
                )
            )

    out.append(("h2", "Post-screening"))
    if scr["enabled"]:
        out.append(
            (
                "p",
                (
                    f"Rule: {scr['rule']}. Training trials never count. "
                    f"Excluded {scr['n_excluded']} of {scr['n_listeners_before']} listeners; "
                    f"{scr['n_listeners_after']} remain."
                ),
            )
        )
    else:
        out.append(
            (
                "p",
                (
                    f"Post-screening is off: all {scr['n_listeners_before']} listeners "
                    "count. (The counts below show what the rule would have found.)"
                ),
            )
        )
    excluded = [r for r in scr["listeners"] if r["excluded"]]
    if excluded:
        out.append(
            ("table", (["listener", "reason"], [[r["listener"], r["reason"]] for r in excluded]))
        )
    flagged = [r for r in scr["listeners"] if not r["excluded"] and r["n_reference_below"] > 0]
    if flagged:
        out.append(
            (
                "p",
                "Kept, with some hidden-reference ratings below the threshold: "
                + ", ".join(
                    f"{r['listener']} ({r['n_reference_below']}/{r['n_items']})" for r in flagged
                )
                + ".",
            )
        )

    out.append(("h2", "Descriptives"))
    out.append(
        (
            "p",
            (
                "Mean = mean over listeners of each listener's mean rating. 95 % CI (t): "
                "over listener means, for these items. 95 % CI (bootstrap): listeners and "
                f"items resampled, variance-corrected ({report['options']['n_boot']} resamples, seed "
                f"{report['options']['seed']}). Median and quartiles of the ratings."
            ),
        )
    )
    out.append(
        (
            "table",
            (
                [
                    "condition",
                    "role",
                    "listeners",
                    "items",
                    "mean",
                    "CI t",
                    "CI bootstrap",
                    "median",
                    "Q1-Q3",
                ],
                [
                    [
                        d["condition"],
                        d["role"],
                        str(d["n_listeners"]),
                        str(d["n_items"]),
                        num(d["mean"]),
                        f"{num(d['ci_low_t'])} – {num(d['ci_high_t'])}",
                        f"{num(d['ci_low_boot'])} – {num(d['ci_high_boot'])}",
                        num(d["median"]),
                        f"{num(d['q1'])} – {num(d['q3'])}",
                    ]
                    for d in report["descriptives"]
                ],
            ),
        )
    )
    if with_plots:
        out.append(("img", (PLOT_FILES["boxplot"], "box plots per condition")))
        out.append(("img", (PLOT_FILES["means"], "means with confidence intervals")))
        out.append(("img", (PLOT_FILES["items"], "per-item means")))

    out.append(("h2", "Significance tests (listener = unit of replication)"))
    fam = ", ".join(inf["family"])
    out.append(
        (
            "p",
            (
                f"Compared conditions: {fam}. Each listener contributes one mean per "
                f"condition (items averaged within listener); alpha = {inf['alpha']}; "
                f"{inf['correction']}."
            ),
        )
    )
    fr = inf["friedman"]
    if fr["p_value"] is not None and not math.isnan(fr["p_value"]):
        out.append(
            (
                "p",
                (
                    f"Friedman omnibus test: chi2({fr['dof']}) = {num(fr['statistic'], 2)}, "
                    f"{p_is(fr['p_value'])}, Kendall's W = {num(fr['kendall_w'], 3)}, "
                    f"n = {fr['n_listeners']} listeners."
                ),
            )
        )
    else:
        out.append(("p", f"Friedman omnibus test: not computed ({fr['note']})."))
    out.append(("h3", "Pairwise Wilcoxon signed-rank tests (two-sided, Holm-corrected)"))
    out.append(
        (
            "table",
            (
                [
                    "A",
                    "B",
                    "n",
                    "mean A",
                    "mean B",
                    "A − B",
                    "95 % CI",
                    "W",
                    "p",
                    "p Holm",
                    "significant",
                    "rank-biserial r",
                ],
                [
                    [
                        w["condition_a"],
                        w["condition_b"],
                        str(w["n"]),
                        num(w["mean_a"]),
                        num(w["mean_b"]),
                        num(w["mean_diff"]),
                        f"{num(w['diff_ci_low'])} – {num(w['diff_ci_high'])}",
                        num(w["statistic"], 1),
                        pval(w["p_unc"]),
                        pval(w["p_holm"]),
                        yes(w["significant"]),
                        num(w["rank_biserial"], 2),
                    ]
                    for w in inf["wilcoxon"]
                ],
            ),
        )
    )
    mm = inf["mixed_model"]
    vc = mm["variance_components_sd"]
    out.append(("h3", "Linear mixed model (second analysis)"))
    out.append(
        (
            "p",
            (
                f"{mm['formula']}; formulation: {mm['formulation']}; "
                f"{mm['n_obs']} observations; converged: {yes(mm['converged'])}. "
                f"Random-effect SDs: listener {num(vc['listener'])}, item {num(vc['item'])}, "
                f"listener × condition {num(vc['listener:condition'])}, residual "
                f"{num(vc['residual'])}. Contrasts: Wald t tests with {mm['contrast_dof']} "
                "degrees of freedom, Holm-corrected."
            ),
        )
    )
    for note in mm["notes"]:
        out.append(("note", note))
    out.append(
        (
            "table",
            (
                ["A", "B", "estimate A − B", "SE", "95 % CI", "p", "p Holm", "significant"],
                [
                    [
                        c["condition_a"],
                        c["condition_b"],
                        num(c["estimate"]),
                        num(c["se"], 2),
                        f"{num(c['ci_low'])} – {num(c['ci_high'])}",
                        pval(c["p_unc"]),
                        pval(c["p_holm"]),
                        yes(c["significant"]),
                    ]
                    for c in mm["contrasts"]
                ],
            ),
        )
    )
    out.append(("p", f"**Agreement:** {inf['agreement']['statement']}"))

    gains = report.get("gains")
    if gains:
        out.append(("h2", f"Relative gains (baseline: {gains['baseline']})"))
        f = gains["formulas"]
        out.append(
            (
                "list",
                [
                    f"Gap closure: {f['gap_closure']}, with R = hidden reference ({gains['reference']}).",
                    f"Relative improvement: {f['relative_improvement']}.",
                    (
                        f"{f['means']}; {int(100 * gains['ci_level'])} % CI: {gains['interval']} "
                        f"({gains['n_boot']} resamples, seed {gains['seed']})."
                    ),
                ],
            )
        )
        out.append(
            (
                "table",
                (
                    [
                        "system",
                        "M_S",
                        "M_B",
                        "M_R",
                        "gap closure %",
                        "95 % CI",
                        "relative impr. %",
                        "95 % CI",
                    ],
                    [
                        [
                            g["system"],
                            num(g["mean_system"]),
                            num(g["mean_baseline"]),
                            num(g["mean_reference"]),
                            num(g["gap_closure_pct"]),
                            f"{num(g['gap_ci_low'])} – {num(g['gap_ci_high'])}",
                            num(g["relative_improvement_pct"]),
                            f"{num(g['relative_ci_low'])} – {num(g['relative_ci_high'])}",
                        ]
                        for g in gains["systems"]
                    ],
                ),
            )
        )

    extras = report.get("extras")
    if extras:
        out.append(("h2", "Extras: pair-level tests (NOT the analysis)"))
        out.append(("note", extras["warning"]))
        out.append(
            (
                "table",
                (
                    ["A", "B", "n pairs", "A − B", "p", "p Holm", "significant"],
                    [
                        [
                            w["condition_a"],
                            w["condition_b"],
                            str(w["n"]),
                            num(w["mean_diff"]),
                            pval(w["p_unc"]),
                            pval(w["p_holm"]),
                            yes(w["significant"]),
                        ]
                        for w in extras["pair_level_wilcoxon"]
                    ],
                ),
            )
        )
    out.append(
        (
            "p",
            (
                f"Generated by {report['generator']}; report.json schema "
                f"{report['schema']} version {report['schema_version']}."
            ),
        )
    )
    return out
