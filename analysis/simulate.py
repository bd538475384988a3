"""Synthetic MUSHRA listener panels, for validating the statistics and for trying the tools.

Generative model for listener l, item i and a condition c that is not the hidden reference::

    latent = mu_c + item_i + item_cond_ic
    rating = clip(round(50 + scale_l (latent - 50) + bias_l + listener_cond_lc + noise), 0, 100)

with ``bias_l ~ N(0, listener_bias_sd)``, ``log scale_l ~ N(0, listener_scale_sd)`` (how much
of the scale a listener uses), ``item_i ~ N(0, item_sd)``, ``item_cond_ic ~ N(0,
item_condition_sd)``, ``listener_cond_lc ~ N(0, listener_condition_sd)`` (listeners differ in
how much they like each system) and ``noise ~ N(0, noise_sd)``.

The hidden reference: a good listener rates it 100 (probability ``reference_top_share``) or
90-99, except on a share ``reference_miss_rate`` of trials where they miss it and rate it 70-89.
A careless listener (share ``careless_share``) cannot tell the reference apart: every stimulus,
the reference included, gets ``N(m_l, careless_sd)`` with ``m_l ~ U(30, 70)``.

Defaults are estimated from real MUSHRA data: the public ratings of Stahl, Windtner & Sontacchi
(2024, IEEE Access 12, 159239; 21 listeners x 16 items, each listener rating 8 items, 7 codecs +
reference + anchor; CC BY 4.0), fitted with a crossed REML model (statsmodels) in
``benchmarks/analysis_defaults.py``. See ``docs/analysis.md`` for the numbers and for why the
item x condition interaction defaults to 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.data import ROLES, TIDY_COLUMNS, TIDY_VIEW
from analysis.errors import AnalysisInputError


@dataclass(frozen=True)
class SimCondition:
    """One condition of the simulated test: name, role and true mean on the latent scale."""

    name: str
    role: str
    mean: float


DEFAULT_CONDITIONS = (
    SimCondition("recording", "hidden_reference", 100.0),
    SimCondition("anchor35", "anchor", 20.0),
    SimCondition("baseline", "system", 55.0),
    SimCondition("kathaka", "system", 60.0),
    SimCondition("camp", "system", 62.0),
)


@dataclass(frozen=True)
class PanelConfig:
    """Parameters of a simulated panel (see the module docstring for the model).

    The SDs are in rating points; ``listener_scale_sd`` is the SD of the log scale factor.
    """

    n_listeners: int = 20
    n_items: int = 20
    items_per_listener: int | None = None  # None: every listener rates every item
    conditions: tuple[SimCondition, ...] = DEFAULT_CONDITIONS
    # Stahl et al. 2024 data, crossed REML fit on the 7 codec conditions:
    listener_bias_sd: float = 12.2
    listener_scale_sd: float = 0.20  # SD of log(per-listener rating SD) 0.22, minus sampling
    item_sd: float = 3.1
    listener_condition_sd: float = 6.0  # DESIGN.md quotes about 4.7 for other real data
    item_condition_sd: float = 0.0  # real codec data: 10.0; see docs/analysis.md
    noise_sd: float = 17.4
    # hidden reference: 84 % of the 168 ratings were 100 (89 % among listeners who pass the
    # screening), 6.0 % below 90 overall and 2.0 % among the listeners who pass; the latter
    # is biased low (listeners with more misses were screened out), so 3 % is used.
    reference_top_share: float = 0.89
    reference_miss_rate: float = 0.03
    careless_share: float = 0.10  # 2 of the 21 listeners failed BS.1534-3 screening
    careless_sd: float = 25.0
    training_items: int = 0
    test: str = "simulated"
    time_median_s: float = 45.0  # illustrative only; no statistic uses it

    def with_(self, **changes) -> PanelConfig:
        return replace(self, **changes)


@dataclass
class Panel:
    """A simulated panel: the tidy ratings and the ground truth."""

    ratings: pd.DataFrame
    careless: list[str] = field(default_factory=list)


def check_config(cfg: PanelConfig) -> None:
    """Raise :class:`AnalysisInputError` for impossible parameters."""
    if cfg.n_listeners < 1 or cfg.n_items < 1:
        raise AnalysisInputError("simulate: need at least one listener and one item")
    if cfg.items_per_listener is not None and not 1 <= cfg.items_per_listener <= cfg.n_items:
        raise AnalysisInputError("simulate: items per listener must lie within 1 and the items")
    names = [c.name for c in cfg.conditions]
    if len(set(names)) != len(names):
        raise AnalysisInputError("simulate: condition names must be unique")
    for c in cfg.conditions:
        if c.role not in ROLES:
            raise AnalysisInputError(f"simulate: condition {c.name!r}: unknown role {c.role!r}")
    if sum(c.role == "hidden_reference" for c in cfg.conditions) != 1:
        raise AnalysisInputError("simulate: exactly one hidden_reference condition is needed")
    for nm in (
        "listener_bias_sd",
        "listener_scale_sd",
        "item_sd",
        "listener_condition_sd",
        "item_condition_sd",
        "noise_sd",
        "careless_sd",
    ):
        if getattr(cfg, nm) < 0:
            raise AnalysisInputError(f"simulate: {nm} must not be negative")
    for nm in ("careless_share", "reference_miss_rate", "reference_top_share"):
        if not 0 <= getattr(cfg, nm) <= 1:
            raise AnalysisInputError(f"simulate: {nm} must lie within 0-1")


def simulate_panel(cfg: PanelConfig = PanelConfig(), seed: int = 0) -> Panel:
    """Draw one panel. Same config and seed give the same ratings.

    Returns:
        :class:`Panel` with the tidy ratings (columns :data:`analysis.data.TIDY_COLUMNS`) and
        the ids of the planted careless listeners.
    """
    check_config(cfg)
    rng = np.random.default_rng(seed)
    n_l, n_i, n_c = cfg.n_listeners, cfg.n_items + cfg.training_items, len(cfg.conditions)
    mu = np.array([c.mean for c in cfg.conditions])
    is_ref = np.array([c.role == "hidden_reference" for c in cfg.conditions])
    careless = rng.random(n_l) < cfg.careless_share
    bias = rng.normal(0, cfg.listener_bias_sd, n_l)
    scale = np.exp(rng.normal(0, cfg.listener_scale_sd, n_l))
    item = rng.normal(0, cfg.item_sd, n_i)
    item_cond = rng.normal(0, cfg.item_condition_sd, (n_i, n_c))
    lis_cond = rng.normal(0, cfg.listener_condition_sd, (n_l, n_c))
    noise = rng.normal(0, cfg.noise_sd, (n_l, n_i, n_c))
    latent = mu[None, :] + item[:, None] + item_cond  # (I, C)
    x = (
        50
        + scale[:, None, None] * (latent[None] - 50)
        + bias[:, None, None]
        + lis_cond[:, None, :]
        + noise
    )
    # hidden reference, good listeners
    u = rng.random((n_l, n_i))
    top = rng.random((n_l, n_i)) < cfg.reference_top_share
    ref = np.where(top, 100.0, rng.integers(90, 100, (n_l, n_i)))
    ref = np.where(u < cfg.reference_miss_rate, rng.integers(70, 90, (n_l, n_i)), ref)
    x[:, :, is_ref] = ref[:, :, None]
    # careless listeners
    m = rng.uniform(30, 70, n_l)
    wild = m[:, None, None] + rng.normal(0, cfg.careless_sd, (n_l, n_i, n_c))
    x = np.where(careless[:, None, None], wild, x)
    score = np.clip(np.rint(x), 0, 100).astype(int)

    # which (listener, item) trials exist
    trial = np.ones((n_l, n_i), bool)
    if cfg.items_per_listener is not None:
        trial[:, : cfg.n_items] = False
        perm = rng.permutation(cfg.n_items)
        k = cfg.items_per_listener
        for lis in range(n_l):  # rotation: every item rated by about n_l * k / n_items
            trial[lis, perm[(lis * k + np.arange(k)) % cfg.n_items]] = True
    ll, ii = np.nonzero(trial)
    ll = np.repeat(ll, n_c)
    ii = np.repeat(ii, n_c)
    cc = np.tile(np.arange(n_c), trial.sum())
    width_l = len(str(n_l))
    width_i = len(str(cfg.n_items))
    listener_ids = np.array([f"L{j + 1:0{width_l}d}" for j in range(n_l)])
    item_ids = np.array(
        [f"item{j + 1:0{width_i}d}" for j in range(cfg.n_items)]
        + [f"training{j + 1}" for j in range(cfg.training_items)]
    )
    names = np.array([c.name for c in cfg.conditions])
    roles = np.array([c.role for c in cfg.conditions])
    time_spent = np.round(cfg.time_median_s * np.exp(rng.normal(0, 0.4, (n_l, n_i))), 1)
    all_played = ~(careless[:, None] & (rng.random((n_l, n_i)) < 0.5))
    ratings = pd.DataFrame(
        {
            "test": cfg.test,
            "listener": listener_ids[ll],
            "item": item_ids[ii],
            "condition": names[cc],
            "role": roles[cc],
            "score": score[ll, ii, cc].astype(float),
            "time_spent_s": time_spent[ll, ii],
            "all_played": all_played[ll, ii],
            "is_training": ii >= cfg.n_items,
        },
        columns=list(TIDY_COLUMNS),
    )
    return Panel(ratings, careless=list(listener_ids[careless]))


def expected_means(
    cfg: PanelConfig = PanelConfig(), n_draws: int = 400_000, seed: int = 12345
) -> dict[str, float]:
    """Population mean rating of each condition by good listeners (Monte Carlo).

    Rounding and clipping to 0-100 make the expected rating differ from ``mu_c``; this is the
    value the condition means of :mod:`analysis.resample` estimate when no listener is careless.
    """
    rng = np.random.default_rng(seed)
    out = {}
    for c in cfg.conditions:
        if c.role == "hidden_reference":
            top, miss = cfg.reference_top_share, cfg.reference_miss_rate
            out[c.name] = (1 - miss) * (top * 100 + (1 - top) * 94.5) + miss * 79.5
            continue
        scale = np.exp(rng.normal(0, cfg.listener_scale_sd, n_draws))
        latent = (
            c.mean
            + rng.normal(0, cfg.item_sd, n_draws)
            + rng.normal(0, cfg.item_condition_sd, n_draws)
        )
        x = (
            50
            + scale * (latent - 50)
            + rng.normal(0, cfg.listener_bias_sd, n_draws)
            + rng.normal(0, cfg.listener_condition_sd, n_draws)
            + rng.normal(0, cfg.noise_sd, n_draws)
        )
        out[c.name] = float(np.clip(np.rint(x), 0, 100).mean())
    return out


def parse_conditions(spec: str) -> tuple[SimCondition, ...]:
    """Parse ``"recording:hidden_reference:100,anchor35:anchor:20,base:system:55"``."""
    out = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        bits = part.split(":")
        if len(bits) != 3:
            raise AnalysisInputError(
                f"--conditions: {part!r} is not NAME:ROLE:MEAN (e.g. base:system:55)"
            )
        name, role, mean = (b.strip() for b in bits)
        try:
            value = float(mean)
        except ValueError:
            raise AnalysisInputError(f"--conditions: {part!r}: {mean!r} is not a number") from None
        out.append(SimCondition(name, role, value))
    return tuple(out)


def write_csv(ratings: pd.DataFrame, path: str | Path) -> None:
    """Write the tidy CSV atomically (a temporary file moved into place)."""
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise AnalysisInputError(f"{path}: folder {path.parent} does not exist")
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        ratings.to_csv(tmp, index=False)
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_db(ratings: pd.DataFrame, url: str, replace_test: bool = False) -> int:
    """Insert the ratings into the ``tidy_ratings`` table (created if absent).

    Refuses to add to a test name that already has rows unless ``replace_test``. Only bound
    parameters reach the SQL. Returns the number of rows written.
    """
    import sqlalchemy as sa

    meta = sa.MetaData()
    table = sa.Table(
        TIDY_VIEW,
        meta,
        sa.Column("test", sa.String, nullable=False),
        sa.Column("listener", sa.String, nullable=False),
        sa.Column("item", sa.String, nullable=False),
        sa.Column("condition", sa.String, nullable=False),
        sa.Column("role", sa.String, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("time_spent_s", sa.Float),
        sa.Column("all_played", sa.Boolean),
        sa.Column("is_training", sa.Boolean, nullable=False),
    )
    try:
        engine = sa.create_engine(url)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ValueError, ImportError) as exc:
        raise AnalysisInputError(f"--db: cannot open database: {exc}") from None
    tests = ratings["test"].unique().tolist()
    rows = ratings.astype(object).where(ratings.notna(), None).to_dict("records")
    try:
        with engine.begin() as conn:
            meta.create_all(conn, checkfirst=True)
            n_old = conn.execute(
                sa.select(sa.func.count()).select_from(table).where(table.c.test.in_(tests))
            ).scalar_one()
            if n_old and not replace_test:
                raise AnalysisInputError(
                    f"--db: {TIDY_VIEW} already holds test {tests[0]!r}; use --replace"
                )
            if n_old:
                conn.execute(sa.delete(table).where(table.c.test.in_(tests)))
            for lo in range(0, len(rows), 50_000):
                conn.execute(sa.insert(table), rows[lo : lo + 50_000])
    except sa.exc.SQLAlchemyError as exc:
        msg = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise AnalysisInputError(f"--db: cannot write {TIDY_VIEW}: {msg}") from None
    finally:
        engine.dispose()
    return len(rows)
