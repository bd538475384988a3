"""Descriptives and inference for MUSHRA ratings, with the listener as the unit of replication.

Every function takes the tidy long table (see :mod:`analysis.data`), ignores training trials,
and returns a DataFrame with fixed columns (one row per condition, pair or test). Nothing is
rounded here; rounding happens only when a report is rendered.

Why per-listener means: listeners differ in how much they like each system (a listener x
condition interaction), so the ratings one listener gives are correlated. Tests that treat every
(listener, item) rating as an independent observation then find "effects" far more often than
their nominal level. The tests here therefore work on one number per listener and condition
(the listener's mean over the items they rated) and the mixed model carries a listener x
condition random effect.
"""

from __future__ import annotations

import contextlib
import warnings
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats as sps

from analysis.data import rated
from analysis.resample import BootstrapMeans, bootstrap_means

DESCRIPTIVE_COLUMNS = (
    "condition",
    "role",
    "n_listeners",
    "n_items",
    "n_ratings",
    "mean",
    "sd",
    "ci_low_t",
    "ci_high_t",
    "ci_low_boot",
    "ci_high_boot",
    "median",
    "q1",
    "q3",
    "min",
    "max",
)
FRIEDMAN_COLUMNS = (
    "test",
    "n_listeners",
    "n_conditions",
    "statistic",
    "dof",
    "p_value",
    "kendall_w",
    "note",
)
WILCOXON_COLUMNS = (
    "condition_a",
    "condition_b",
    "unit",
    "n",
    "mean_a",
    "mean_b",
    "mean_diff",
    "diff_ci_low",
    "diff_ci_high",
    "statistic",
    "p_unc",
    "p_holm",
    "significant",
    "rank_biserial",
)
MIXED_COLUMNS = (
    "condition_a",
    "condition_b",
    "estimate",
    "se",
    "t",
    "dof",
    "ci_low",
    "ci_high",
    "p_unc",
    "p_holm",
    "significant",
)

# Above these sizes the crossed mixed model (one statsmodels group, dense random-effects
# design) is replaced by the cell-means formulation (see :func:`mixed_model`).
MIXED_MAX_ROWS = 6000
MIXED_MAX_EFFECTS = 600


# --------------------------------------------------------------------------------------------
# per-listener tables
# --------------------------------------------------------------------------------------------
def trial_matrix(data: pd.DataFrame, conditions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ratings as a (trials x conditions) matrix; a trial is one (listener, item).

    Returns:
        (listener labels, listener code of each trial, matrix with NaN where not rated).
    """
    data = rated(data)
    data = data[data["condition"].isin(conditions)]
    l_code, listeners = pd.factorize(data["listener"], sort=True)
    i_code, _ = pd.factorize(data["item"], sort=True)
    n_items = int(i_code.max()) + 1 if len(i_code) else 1
    trial_key = l_code.astype(np.int64) * n_items + i_code
    t_code, t_keys = pd.factorize(trial_key, sort=True)
    c_index = {c: j for j, c in enumerate(conditions)}
    c_code = data["condition"].map(c_index).to_numpy()
    matrix = np.full((len(t_keys), len(conditions)), np.nan)
    matrix[t_code, c_code] = data["score"].to_numpy(float)
    trial_listener = (np.asarray(t_keys) // n_items).astype(np.int64)
    return np.asarray(listeners), trial_listener, matrix


def listener_means(
    data: pd.DataFrame, conditions=None, complete_trials: bool = True
) -> pd.DataFrame:
    """Per-listener mean rating of each condition (listeners x conditions, NaN if not rated).

    Args:
        complete_trials: use only the trials (listener, item) in which the listener rated every
            one of ``conditions``, so that all of a listener's means rest on the same items and
            item difficulty cancels from within-listener comparisons in subset designs.
    """
    if conditions is None:
        conditions = sorted(rated(data)["condition"].unique())
    conditions = list(conditions)
    listeners, tl, m = trial_matrix(data, conditions)
    if complete_trials:
        keep = ~np.isnan(m).any(axis=1)
        tl, m = tl[keep], m[keep]
    n_l = len(listeners)
    out = np.full((n_l, len(conditions)), np.nan)
    for j in range(len(conditions)):
        ok = ~np.isnan(m[:, j])
        cnt = np.bincount(tl[ok], minlength=n_l)
        tot = np.bincount(tl[ok], weights=m[ok, j], minlength=n_l)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, j] = np.where(cnt > 0, tot / np.maximum(cnt, 1), np.nan)
    frame = pd.DataFrame(out, index=pd.Index(listeners, name="listener"), columns=conditions)
    return frame.dropna(how="all")


# --------------------------------------------------------------------------------------------
# descriptives
# --------------------------------------------------------------------------------------------
def describe(
    data: pd.DataFrame,
    conditions=None,
    ci: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
    boot: BootstrapMeans | None = None,
) -> pd.DataFrame:
    """Per-condition descriptives.

    ``mean`` is the mean of listener means (each listener's mean over the items they rated).
    ``ci_*_t``: t interval over listener means (Student 1908), i.e. generalising to new
    listeners for these items. ``ci_*_boot``: percentile interval of the two-way bootstrap that
    resamples listeners *and* items (generalising to both). ``sd``, ``median``, ``q1``, ``q3``,
    ``min`` and ``max`` describe the individual ratings.
    """
    data = rated(data)
    roles = data.drop_duplicates("condition").set_index("condition")["role"]
    if conditions is None:
        conditions = list(roles.index)
    conditions = list(conditions)
    if boot is None:
        boot = bootstrap_means(data, conditions, n_boot=n_boot, seed=seed)
    alpha = 1 - ci
    rows = []
    for cond in conditions:
        sub = data[data["condition"] == cond]
        scores = sub["score"].to_numpy(float)
        lm = sub.groupby("listener")["score"].mean().to_numpy()
        n = len(lm)
        mean = float(lm.mean())
        if n > 1:
            half = sps.t.ppf(1 - alpha / 2, n - 1) * lm.std(ddof=1) / np.sqrt(n)
        else:
            half = np.nan
        lo_b, hi_b = boot.interval(cond, ci)
        q1, med, q3 = np.percentile(scores, [25, 50, 75])
        rows.append(
            {
                "condition": cond,
                "role": roles[cond],
                "n_listeners": n,
                "n_items": int(sub["item"].nunique()),
                "n_ratings": len(scores),
                "mean": mean,
                "sd": float(scores.std(ddof=1)) if len(scores) > 1 else np.nan,
                "ci_low_t": mean - half,
                "ci_high_t": mean + half,
                "ci_low_boot": lo_b,
                "ci_high_boot": hi_b,
                "median": float(med),
                "q1": float(q1),
                "q3": float(q3),
                "min": float(scores.min()),
                "max": float(scores.max()),
            }
        )
    return pd.DataFrame(rows, columns=list(DESCRIPTIVE_COLUMNS))


# --------------------------------------------------------------------------------------------
# non-parametric tests on per-listener means
# --------------------------------------------------------------------------------------------
def friedman(data: pd.DataFrame, conditions) -> pd.DataFrame:
    """Friedman (1937) omnibus test over per-listener condition means.

    Only listeners who rated every condition count (complete blocks), each with their mean over
    the trials in which they rated all of them. Kendall's W = chi2 / (n (k - 1)).
    """
    conditions = list(conditions)
    k = len(conditions)
    wide = listener_means(data, conditions).dropna()
    n = len(wide)
    row = {
        "test": "Friedman",
        "n_listeners": n,
        "n_conditions": k,
        "statistic": np.nan,
        "dof": k - 1,
        "p_value": np.nan,
        "kendall_w": np.nan,
        "note": "",
    }
    if k < 3:
        row["note"] = "needs at least 3 conditions; see the pairwise test"
    elif n < 2:
        row["note"] = "needs at least 2 listeners who rated every condition"
    else:
        x = wide.to_numpy()
        if np.all(np.ptp(x, axis=1) == 0):
            row.update(
                statistic=0.0,
                p_value=1.0,
                kendall_w=0.0,
                note="every listener rated all conditions equally",
            )
        else:
            stat, p = sps.friedmanchisquare(*x.T)
            row.update(
                statistic=float(stat), p_value=float(p), kendall_w=float(stat / (n * (k - 1)))
            )
    return pd.DataFrame([row], columns=list(FRIEDMAN_COLUMNS))


def rank_biserial(d) -> float:
    """Matched-pairs rank-biserial correlation (Kerby 2014, "simple difference formula").

    r = (R+ - R-) / (R+ + R-), with R+ and R- the sums of the ranks of |d| of the positive and
    negative differences; zero differences are dropped as in Wilcoxon's test. +1: every
    difference favours the first condition.
    """
    d = np.asarray(d, float)
    d = d[d != 0]
    if d.size == 0:
        return 0.0
    ranks = sps.rankdata(np.abs(d))
    pos = ranks[d > 0].sum()
    neg = ranks[d < 0].sum()
    return float((pos - neg) / (pos + neg))


def holm(p_values, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Holm (1979) step-down adjusted p-values and decisions at family-wise level ``alpha``.

    adj_(i) = max_{j <= i} min(1, (m - j + 1) p_(j)) over the ascending p-values; a hypothesis
    is rejected when its adjusted p-value is at most alpha. Same numbers as statsmodels'
    ``multipletests(method="holm")`` (checked in the tests), without its per-call
    ``gc.collect()``, which costs 0.15 s and dominates simulation runs. NaN p-values are left
    out of the family.
    """
    p = np.asarray(p_values, float)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    m = int(ok.sum())
    if m:
        order = np.argsort(p[ok], kind="stable")
        scaled = np.minimum(1.0, (m - np.arange(m)) * p[ok][order])
        adj = np.empty(m)
        adj[order] = np.maximum.accumulate(scaled)
        out[ok] = adj
    reject = np.zeros(p.shape, bool)
    reject[ok] = out[ok] <= alpha
    return out, reject


def signed_rank_test(d) -> tuple[float, float]:
    """Two-sided Wilcoxon (1945) signed-rank test of paired differences ``d``; zeros dropped.

    Follows ``scipy.stats.wilcoxon(d, method="auto")``: the exact null distribution without
    ties (up to 50 differences), the normal approximation with continuity correction beyond
    that. With ties among 13 or fewer differences scipy runs an exhaustive permutation test
    (``PermutationMethod``), seconds per call; the same exact conditional distribution of the
    positive rank sum over all 2^n sign flips is computed here by dynamic programming over the
    (doubled, hence integer) midranks in microseconds. Returns (min(R+, R-), p).
    """
    d = np.asarray(d, float)
    nz = d[d != 0]
    n = nz.size
    ranks = sps.rankdata(np.abs(nz))
    r_plus = float(ranks[nz > 0].sum())
    r_minus = float(ranks[nz < 0].sum())
    stat = min(r_plus, r_minus)
    has_ties = np.unique(np.abs(nz)).size < n
    has_zeros = n < d.size
    if n == 0:
        return 0.0, 1.0
    if (has_ties or has_zeros) and n <= 13:
        doubled = np.rint(2 * ranks).astype(np.int64)
        counts = np.zeros(int(doubled.sum()) + 1)
        counts[0] = 1.0
        for r in doubled:  # distribution of the doubled positive rank sum under sign flips
            counts[r:] = counts[r:] + counts[:-r].copy() if r else counts * 2
        total = counts.sum()
        obs = round(2 * r_plus)
        lower = counts[: obs + 1].sum() / total
        upper = counts[obs:].sum() / total
        return stat, float(min(1.0, 2 * min(lower, upper)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sps.wilcoxon(d, zero_method="wilcox", alternative="two-sided", method="auto")
    return float(res.statistic), float(res.pvalue)


def pairwise_wilcoxon(
    data: pd.DataFrame,
    conditions,
    alpha: float = 0.05,
    ci: float = 0.95,
    unit: str = "listener",
) -> pd.DataFrame:
    """Two-sided Wilcoxon (1945) signed-rank tests for every pair, Holm-corrected.

    Args:
        conditions: the family of conditions; every pair of them is tested and the Holm
            correction runs over all these pairs.
        unit: ``"listener"`` (the analysis): one paired observation per listener, the
            listener's mean over the items on which they rated both conditions.
            ``"pair"``: one observation per (listener, item) - treats correlated ratings as
            independent and is only shown as a labelled extra; it is anti-conservative.

    Returns:
        One row per pair (columns :data:`WILCOXON_COLUMNS`); ``mean_diff`` = a - b; the
        ``diff_ci`` is a t interval of the mean paired difference; ``rank_biserial`` > 0 means
        a was rated higher.
    """
    if unit not in ("listener", "pair"):
        raise ValueError("unit must be 'listener' or 'pair'")
    conditions = list(conditions)
    listeners, tl, m = trial_matrix(data, conditions)
    n_l = len(listeners)
    rows = []
    for a, b in combinations(range(len(conditions)), 2):
        ok = ~np.isnan(m[:, a]) & ~np.isnan(m[:, b])
        if unit == "listener":
            cnt = np.bincount(tl[ok], minlength=n_l)
            keep = cnt > 0
            xa = np.bincount(tl[ok], weights=m[ok, a], minlength=n_l)[keep] / cnt[keep]
            xb = np.bincount(tl[ok], weights=m[ok, b], minlength=n_l)[keep] / cnt[keep]
        else:
            xa, xb = m[ok, a], m[ok, b]
        # Rounding removes float noise from means of integers, so equal means tie exactly.
        d = np.round(xa - xb, 9)
        n = len(d)
        stat, p = np.nan, np.nan
        if n >= 2:
            if np.all(d == 0):
                stat, p = 0.0, 1.0
            else:
                stat, p = signed_rank_test(d)
        mean_d = float(d.mean()) if n else np.nan
        if n > 1:
            half = sps.t.ppf(1 - (1 - ci) / 2, n - 1) * d.std(ddof=1) / np.sqrt(n)
        else:
            half = np.nan
        rows.append(
            {
                "condition_a": conditions[a],
                "condition_b": conditions[b],
                "unit": unit,
                "n": n,
                "mean_a": float(xa.mean()) if n else np.nan,
                "mean_b": float(xb.mean()) if n else np.nan,
                "mean_diff": mean_d,
                "diff_ci_low": mean_d - half,
                "diff_ci_high": mean_d + half,
                "statistic": stat,
                "p_unc": p,
                "rank_biserial": rank_biserial(d),
            }
        )
    frame = pd.DataFrame(
        rows, columns=[c for c in WILCOXON_COLUMNS if c not in ("p_holm", "significant")]
    )
    adj, rej = holm(frame["p_unc"].to_numpy(), alpha) if len(frame) else ([], [])
    frame["p_holm"] = adj
    frame["significant"] = np.asarray(rej, bool)
    return frame.loc[:, list(WILCOXON_COLUMNS)]


# --------------------------------------------------------------------------------------------
# linear mixed model
# --------------------------------------------------------------------------------------------
def mixed_model(
    data: pd.DataFrame,
    conditions,
    alpha: float = 0.05,
    ci: float = 0.95,
    max_rows: int = MIXED_MAX_ROWS,
    max_effects: int = MIXED_MAX_EFFECTS,
) -> tuple[pd.DataFrame, dict]:
    """Linear mixed model of the ratings and Holm-corrected pairwise contrasts.

    Model (REML, statsmodels ``MixedLM``)::

        score = mu_condition + listener + item + listener:condition + residual

    with normal random effects for listener, item and listener x condition (crossed; fitted as
    variance components of a single statsmodels group). When the data exceed ``max_rows``
    ratings or ``max_effects`` random effects, the dense crossed fit becomes too slow and the
    *cell-means formulation* is fitted instead: scores are centred per item (item effects
    removed), averaged per (listener, condition), and ``mean = mu_condition + listener +
    residual`` is fitted with a random intercept per listener; the residual then carries the
    listener x condition interaction plus averaged noise. For a balanced complete design both
    give the same condition contrasts (the contrasts live in the listener x condition stratum);
    the item variance is then a moment estimate from the item means.

    Contrasts a - b are Wald t tests on the fixed effects with (L - 1)(k - 1) degrees of freedom
    (the listener x condition stratum of the balanced design), Holm-corrected over all pairs.

    Returns:
        (contrasts with :data:`MIXED_COLUMNS`, info dict: formulation, formula,
        variance components as standard deviations, converged, n_obs, notes)
    """
    import statsmodels.api as sm

    conditions = list(conditions)
    data = rated(data)
    data = data[data["condition"].isin(conditions)]
    l_code, listeners = pd.factorize(data["listener"], sort=True)
    i_code, items = pd.factorize(data["item"], sort=True)
    c_index = {c: j for j, c in enumerate(conditions)}
    c_code = data["condition"].map(c_index).to_numpy()
    y = data["score"].to_numpy(float)
    n_l, n_i, k = len(listeners), len(items), len(conditions)
    n_effects = n_l + n_i + n_l * k
    notes: list[str] = []
    crossed = len(y) <= max_rows and n_effects <= max_effects
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if crossed:
            formulation = "crossed"
            formula = (
                "score ~ 0 + condition, random: listener + item + listener:condition "
                "(REML, all ratings)"
            )
            exog = np.eye(k)[c_code]
            lc = l_code.astype(np.int64) * k + c_code
            lc_code, _ = pd.factorize(lc, sort=True)
            mats = [np.eye(n_l)[l_code], np.eye(n_i)[i_code], np.eye(lc_code.max() + 1)[lc_code]]
            names = ["listener", "item", "listener:condition"]
            vcs = sm.regression.mixed_linear_model.VCSpec(
                names,
                [
                    [[f"{nm}{j}" for j in range(mt.shape[1])]]
                    for nm, mt in zip(names, mats, strict=True)
                ],
                [[mt] for mt in mats],
            )
            model = sm.MixedLM(y, exog, groups=np.zeros(len(y)), exog_vc=vcs)
            try:
                result = _fit(model)
            except (np.linalg.LinAlgError, ValueError) as exc:
                # e.g. a variance component at zero with very few items: fall back
                frame, info = mixed_model(data, conditions, alpha, ci, max_rows=0)
                info["notes"] = [
                    f"the crossed fit failed ({exc}); cell-means formulation used instead"
                ] + [n for n in info["notes"] if not n.startswith(f"{len(y)} ratings")]
                return frame, info
            vc = dict(zip(names, np.sqrt(np.maximum(result.vcomp, 0)), strict=True))
            variance = {
                "listener": vc["listener"],
                "item": vc["item"],
                "listener:condition": vc["listener:condition"],
                "residual": float(np.sqrt(result.scale)),
            }
        else:
            formulation = "cell_means"
            formula = (
                "mean(score - item effect) per listener x condition ~ 0 + condition, "
                "random: listener (REML); residual = listener:condition + noise"
            )
            grand = y.mean()
            item_mean = np.bincount(i_code, weights=y, minlength=n_i) / np.maximum(
                np.bincount(i_code, minlength=n_i), 1
            )
            yc = y - (item_mean[i_code] - grand)
            cell = l_code.astype(np.int64) * k + c_code
            cnt = np.bincount(cell, minlength=n_l * k)
            tot = np.bincount(cell, weights=yc, minlength=n_l * k)
            ok = cnt > 0
            cell_l = np.repeat(np.arange(n_l), k)[ok]
            cell_c = np.tile(np.arange(k), n_l)[ok]
            endog = tot[ok] / cnt[ok]
            model = sm.MixedLM(endog, np.eye(k)[cell_c], groups=cell_l)
            result = _fit(model)
            mean_per_cell = float(np.mean(cnt[ok]))
            resid_all = _within_cell_sd(yc, cell, cnt, tot)
            lc_var = max(result.scale - resid_all**2 / mean_per_cell, 0.0)
            variance = {
                "listener": float(np.sqrt(max(float(np.asarray(result.cov_re)[0, 0]), 0.0))),
                "item": _item_sd(y, i_code, n_i),
                "listener:condition": float(np.sqrt(lc_var)),
                "residual": resid_all,
            }
            notes.append(
                f"{len(y)} ratings / {n_effects} random effects exceed the crossed fit's limits "
                f"({max_rows} / {max_effects}); fitted the cell-means formulation on "
                f"{int(ok.sum())} listener x condition means"
            )
    for w in caught:
        msg = str(w.message).strip().splitlines()[0]
        if msg and msg not in notes:
            notes.append(msg)
    fe = np.asarray(result.fe_params, float)
    cov = np.asarray(result.cov_params(), float)[:k, :k]
    dof = max((n_l - 1) * (k - 1), 1)
    tcrit = sps.t.ppf(1 - (1 - ci) / 2, dof)
    rows = []
    for a, b in combinations(range(k), 2):
        est = fe[a] - fe[b]
        se = float(np.sqrt(max(cov[a, a] + cov[b, b] - 2 * cov[a, b], 0.0)))
        t = est / se if se > 0 else np.nan
        p = float(2 * sps.t.sf(abs(t), dof)) if se > 0 else np.nan
        rows.append(
            {
                "condition_a": conditions[a],
                "condition_b": conditions[b],
                "estimate": float(est),
                "se": se,
                "t": t,
                "dof": dof,
                "ci_low": est - tcrit * se,
                "ci_high": est + tcrit * se,
                "p_unc": p,
            }
        )
    frame = pd.DataFrame(
        rows, columns=[c for c in MIXED_COLUMNS if c not in ("p_holm", "significant")]
    )
    adj, rej = holm(frame["p_unc"].to_numpy(), alpha) if len(frame) else ([], [])
    frame["p_holm"] = adj
    frame["significant"] = np.asarray(rej, bool)
    info = {
        "formulation": formulation,
        "formula": formula,
        "n_obs": len(y) if crossed else len(model.endog),
        "n_listeners": int(n_l),
        "n_items": int(n_i),
        "condition_means": {c: float(fe[j]) for j, c in enumerate(conditions)},
        "variance_components_sd": {kk: float(v) for kk, v in variance.items()},
        "converged": bool(getattr(result, "converged", True)),
        "contrast_dof": dof,
        "notes": notes,
    }
    return frame.loc[:, list(MIXED_COLUMNS)], info


def _blas_single_thread():
    """Small dense solves dominate the crossed fit; threaded BLAS only adds contention there."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: without it the fit is merely slower on busy machines
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def _fit(model):
    with _blas_single_thread():
        return _fit_any(model)


def _fit_any(model):
    last = None
    for method in ("lbfgs", "bfgs", "nm"):
        try:
            result = model.fit(reml=True, method=[method])
        except (np.linalg.LinAlgError, ValueError) as exc:  # try the next optimiser
            last = exc
            continue
        if getattr(result, "converged", True):
            return result
        last = result
    if isinstance(last, Exception):
        raise last
    return last


def _within_cell_sd(yc, cell, cnt, tot) -> float:
    mean = np.divide(tot, cnt, out=np.zeros_like(tot), where=cnt > 0)
    ss = np.sum((yc - mean[cell]) ** 2)
    dof = len(yc) - int((cnt > 0).sum())
    return float(np.sqrt(ss / dof)) if dof > 0 else float("nan")


def _item_sd(y, i_code, n_i) -> float:
    """Moment estimate of the item SD: variance of item means minus their sampling variance."""
    cnt = np.bincount(i_code, minlength=n_i)
    mean = np.bincount(i_code, weights=y, minlength=n_i) / np.maximum(cnt, 1)
    resid = y - mean[i_code]
    within = np.sum(resid**2) / max(len(y) - n_i, 1)
    var = np.var(mean[cnt > 0], ddof=1) - within * np.mean(1 / cnt[cnt > 0])
    return float(np.sqrt(max(var, 0.0)))


# --------------------------------------------------------------------------------------------
# agreement of the two analyses
# --------------------------------------------------------------------------------------------
def agreement(wilcoxon: pd.DataFrame, mixed: pd.DataFrame) -> dict:
    """Whether the Wilcoxon tests and the mixed model reach the same decision on every pair.

    A pair agrees when both are non-significant, or both significant in the same direction.
    """
    merged = wilcoxon.merge(mixed, on=["condition_a", "condition_b"], suffixes=("_w", "_m"))
    disagreements = []
    for r in merged.itertuples(index=False):
        dir_w = np.sign(r.mean_diff) if r.significant_w else 0
        dir_m = np.sign(r.estimate) if r.significant_m else 0
        if dir_w != dir_m:
            disagreements.append(
                {
                    "condition_a": r.condition_a,
                    "condition_b": r.condition_b,
                    "wilcoxon_p_holm": float(r.p_holm_w),
                    "mixed_p_holm": float(r.p_holm_m),
                    "wilcoxon_significant": bool(r.significant_w),
                    "mixed_significant": bool(r.significant_m),
                }
            )
    n = len(merged)
    if not disagreements:
        statement = (
            f"The Wilcoxon tests and the mixed model agree on all {n} comparisons."
            if n
            else "No pairwise comparisons."
        )
    else:
        pairs = "; ".join(
            f"{d['condition_a']} vs {d['condition_b']} (Wilcoxon p_holm="
            f"{d['wilcoxon_p_holm']:.3g}, mixed model p_holm={d['mixed_p_holm']:.3g})"
            for d in disagreements
        )
        statement = (
            f"The two analyses disagree on {len(disagreements)} of {n} comparisons: "
            f"{pairs}. Treat these differences as uncertain."
        )
    return {
        "agree": not disagreements,
        "n_pairs": n,
        "disagreements": disagreements,
        "statement": statement,
    }
