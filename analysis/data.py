"""The tidy ratings table: load it from a database, our tidy CSV or webMUSHRA's CSV; validate it.

The contract between evalapp and analysis (DESIGN.md, "Ratings") is one long table with one row
per rating:

======================  ========================================================================
column                  meaning
======================  ========================================================================
``test``                name of the listening test
``listener``            listener id (any string)
``item``                item (sentence) id
``condition``           condition (system, anchor or hidden reference) name
``role``                ``hidden_reference``, ``anchor`` or ``system``
``score``               rating, 0-100
``time_spent_s``        seconds spent on the trial (may be missing)
``all_played``          whether every stimulus of the trial was played (may be missing)
``is_training``         training trials never count in any statistic
======================  ========================================================================

A database provides it as a table or view named ``tidy_ratings`` with exactly these columns.
Every loader returns a :class:`pandas.DataFrame` with exactly :data:`TIDY_COLUMNS`, validated by
:func:`validate`; every problem raises :class:`~analysis.errors.AnalysisInputError` with a
message that names the row and the column.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.errors import AnalysisInputError

TIDY_COLUMNS = (
    "test",
    "listener",
    "item",
    "condition",
    "role",
    "score",
    "time_spent_s",
    "all_played",
    "is_training",
)
REQUIRED_TIDY_COLUMNS = ("listener", "item", "condition", "role", "score")
ROLES = ("hidden_reference", "anchor", "system")
TIDY_VIEW = "tidy_ratings"

# webMUSHRA's MUSHRA result file (service/write.php): session_test_id, the participant
# questionnaire columns (e.g. email, age, gender), session_uuid (newer versions), trial_id,
# rating_stimulus, rating_score, rating_time (milliseconds), rating_comment.
WEBMUSHRA_REQUIRED = ("session_test_id", "trial_id", "rating_stimulus", "rating_score")
WEBMUSHRA_FIXED = (
    "session_test_id",
    "session_uuid",
    "trial_id",
    "rating_stimulus",
    "rating_score",
    "rating_time",
    "rating_comment",
)
# Participant columns that identify a person, in order of preference, when there is no uuid.
WEBMUSHRA_ID_COLUMNS = ("participant_id", "listener", "id", "name", "email")
WEBMUSHRA_TRAINING = re.compile(r"train", re.IGNORECASE)

_TRUE = {"true", "t", "1", "yes", "y", "1.0"}
_FALSE = {"false", "f", "0", "no", "n", "0.0"}
_LINE = "_line"  # internal column: the CSV line a row came from, for error messages


# --------------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------------
def load(
    *,
    csv_path: str | Path | None = None,
    db_url: str | None = None,
    test: str | None = None,
    listener_column: str | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Load and validate ratings from exactly one source.

    Args:
        csv_path: our tidy CSV or a webMUSHRA MUSHRA result CSV (detected from the header).
        db_url: SQLAlchemy URL of a database with a ``tidy_ratings`` table or view.
        test: test name; required with ``db_url``, optional with a CSV holding one test.
        listener_column: webMUSHRA only: the participant column that identifies listeners.

    Returns:
        (tidy table, description of the source: ``source``, ``layout``, ``test``).
    """
    if (csv_path is None) == (db_url is None):
        raise AnalysisInputError("give exactly one input: --csv FILE or --db URL --test NAME")
    if db_url is not None:
        if not test:
            raise AnalysisInputError("--db needs --test NAME (which test to analyse)")
        return read_db(db_url, test), {
            "source": _safe_url(db_url),
            "layout": "database",
            "test": test,
        }
    data, layout = read_csv(csv_path, test=test, listener_column=listener_column)
    return data, {"source": str(csv_path), "layout": layout, "test": str(data["test"].iat[0])}


def read_csv(
    path: str | Path, test: str | None = None, listener_column: str | None = None
) -> tuple[pd.DataFrame, str]:
    """Read our tidy CSV or webMUSHRA's MUSHRA result CSV; the layout is detected from the header.

    Returns:
        (validated tidy table, layout name ``"tidy"`` or ``"webmushra"``).
    """
    path = Path(path)
    if not path.is_file():
        raise AnalysisInputError(f"{path}: no such file")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            header = next(csv.reader(fh), None)
    except UnicodeDecodeError as exc:
        raise AnalysisInputError(f"{path}: not a UTF-8 text file ({exc.reason})") from None
    if not header or not any(h.strip() for h in header):
        raise AnalysisInputError(f"{path}: the file is empty (no header row)")
    columns = {h.strip() for h in header}
    if set(REQUIRED_TIDY_COLUMNS) <= columns:
        layout = "tidy"
    elif set(WEBMUSHRA_REQUIRED) <= columns:
        layout = "webmushra"
    else:
        shown = ", ".join(h.strip() for h in header[:8]) + (", ..." if len(header) > 8 else "")
        raise AnalysisInputError(
            f"{path}: unknown CSV layout (header: {shown}); expected the tidy columns "
            f"({', '.join(TIDY_COLUMNS)}) or webMUSHRA's ({', '.join(WEBMUSHRA_REQUIRED)}, ...)"
        )
    try:
        raw = pd.read_csv(
            path,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            encoding="utf-8-sig",
            skip_blank_lines=True,
        )
    except (pd.errors.ParserError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AnalysisInputError(f"{path}: malformed CSV: {first}") from None
    raw.columns = [c.strip() for c in raw.columns]
    raw[_LINE] = np.arange(len(raw)) + 2  # header is line 1
    if layout == "tidy":
        tidy = _from_tidy_strings(raw, default_test=path.stem)
    else:
        tidy = _from_webmushra(raw, str(path), listener_column)
    tidy = _select_test(tidy, test, str(path))
    return validate(tidy, source=str(path)), layout


def read_db(url: str, test: str) -> pd.DataFrame:
    """Read one test from the ``tidy_ratings`` table or view of a database (SQLAlchemy Core).

    Only bound parameters reach the SQL; the table and column names are fixed by the contract.
    """
    import sqlalchemy as sa

    safe = _safe_url(url)
    try:
        parsed = sa.engine.make_url(url)
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise AnalysisInputError(f"--db {safe}: not a database URL ({exc})") from None
    is_file_db = parsed.get_backend_name() == "sqlite" and parsed.database not in (
        None,
        "",
        ":memory:",
    )
    if is_file_db and not Path(parsed.database).is_file():  # SQLite would create an empty file
        raise AnalysisInputError(f"--db {safe}: no such database file {parsed.database!r}")
    table = sa.table(TIDY_VIEW, *(sa.column(c) for c in TIDY_COLUMNS))
    stmt = sa.select(*(table.c[c] for c in TIDY_COLUMNS)).where(
        table.c.test == sa.bindparam("test_name")
    )
    try:
        engine = sa.create_engine(url)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ValueError, ImportError) as exc:
        raise AnalysisInputError(f"--db {safe}: cannot open ({_first_line(exc)})") from None
    try:
        with engine.connect() as conn:
            result = conn.execute(stmt, {"test_name": test})
            frame = pd.DataFrame(result.fetchall(), columns=list(TIDY_COLUMNS))
            if frame.empty:
                tests = [r[0] for r in conn.execute(sa.select(table.c.test).distinct())]
    except sa.exc.SQLAlchemyError as exc:
        msg = _first_line(getattr(exc, "orig", None) or exc)
        raise AnalysisInputError(f"--db {safe}: cannot read {TIDY_VIEW}: {msg}") from None
    finally:
        engine.dispose()
    if frame.empty:
        known = ", ".join(sorted(map(str, tests))) or "none"
        raise AnalysisInputError(
            f"--db {safe}: no ratings for test {test!r} in {TIDY_VIEW} (tests there: {known})"
        )
    frame = _from_db_values(frame)
    return validate(frame, source=f"{TIDY_VIEW} (test {test!r})")


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------
def validate(data: pd.DataFrame, source: str = "ratings") -> pd.DataFrame:
    """Check a tidy table and return it with canonical dtypes and exactly :data:`TIDY_COLUMNS`.

    Checks: required columns present; at least one rating; non-empty ids; known roles; scores
    present, numeric and within 0-100; booleans readable; no duplicated
    (listener, item, condition) among the rated (or among the training) trials; one role per
    condition; exactly one hidden-reference condition; at least two listeners outside training.

    Raises:
        AnalysisInputError: naming the first offending row and column (and how many more).
    """
    missing = [c for c in REQUIRED_TIDY_COLUMNS if c not in data.columns]
    if missing:
        raise AnalysisInputError(f"{source}: missing column(s) {', '.join(missing)}")
    if len(data) == 0:
        raise AnalysisInputError(f"{source}: no ratings (the table is empty)")
    df = data.copy()
    if _LINE not in df.columns:
        df[_LINE] = pd.NA
    if "test" not in df.columns:
        df["test"] = "test"
    for col in ("test", "listener", "item", "condition", "role"):
        values = df[col]
        bad = values.isna() | (values.astype(str).str.strip() == "")
        if bad.any():
            _fail(df, bad, source, col, "is empty")
        df[col] = values.astype(str).str.strip()
    bad = ~df["role"].isin(ROLES)
    if bad.any():
        first = df.loc[bad, "role"].iat[0]
        _fail(df, bad, source, "role", f"{first!r} is not one of {', '.join(ROLES)}")

    score = df["score"]
    if not pd.api.types.is_numeric_dtype(score):
        text = score.astype("string").str.strip()
        empty = text.isna() | (text == "")
        numeric = pd.to_numeric(text.where(~empty), errors="coerce")
        bad = ~empty & numeric.isna()
        if bad.any():
            _fail(df, bad, source, "score", f"{df.loc[bad, 'score'].iat[0]!r} is not a number")
        score = numeric
    score = score.astype("float64")
    bad = score.isna()
    if bad.any():
        _fail(df, bad, source, "score", "is missing")
    bad = (score < 0) | (score > 100) | ~np.isfinite(score)
    if bad.any():
        _fail(df, bad, source, "score", f"{score[bad].iat[0]:g} is outside 0-100")
    df["score"] = score

    if "time_spent_s" in df.columns:
        t = df["time_spent_s"]
        if not pd.api.types.is_numeric_dtype(t):
            text = t.astype("string").str.strip()
            empty = text.isna() | (text == "")
            num = pd.to_numeric(text.where(~empty), errors="coerce")
            bad = ~empty & num.isna()
            if bad.any():
                _fail(
                    df,
                    bad,
                    source,
                    "time_spent_s",
                    f"{df.loc[bad, 'time_spent_s'].iat[0]!r} is not a number",
                )
            t = num
        t = t.astype("float64")
        bad = t < 0
        if bad.any():
            _fail(df, bad, source, "time_spent_s", f"{t[bad].iat[0]:g} is negative")
        df["time_spent_s"] = t
    else:
        df["time_spent_s"] = np.nan
    df["all_played"] = (
        _parse_bool(df, "all_played", source, allow_missing=True)
        if "all_played" in df.columns
        else pd.array([pd.NA] * len(df), dtype="boolean")
    )
    if "is_training" in df.columns:
        training = _parse_bool(df, "is_training", source, allow_missing=True)
        df["is_training"] = training.fillna(False).astype(bool)
    else:
        df["is_training"] = False

    key = ["test", "is_training", "listener", "item", "condition"]
    dup = df.duplicated(key, keep=False)
    if dup.any():
        first = df.loc[dup, key].iloc[0]
        same = dup & (df[key] == first).all(axis=1)
        lines = df.loc[same, _LINE].iloc[:2]
        if lines.notna().all():
            where = f"{source} lines " + " and ".join(str(int(x)) for x in lines)
        else:
            where = " and ".join(_where(df, i, source) for i in df.index[same][:2])
        raise AnalysisInputError(
            f"{where}: duplicated (listener, item, condition) = "
            f"({first['listener']!r}, {first['item']!r}, {first['condition']!r})"
            f" ({int(dup.sum())} duplicated rows in all)"
        )
    roles = df.groupby("condition", sort=False)["role"].nunique()
    if (roles > 1).any():
        cond = roles.index[roles > 1][0]
        seen = sorted(df.loc[df["condition"] == cond, "role"].unique())
        raise AnalysisInputError(
            f"{source}, column 'role': condition {cond!r} has several roles ({', '.join(seen)})"
        )
    rated = df[~df["is_training"]]
    if rated.empty:
        raise AnalysisInputError(f"{source}: only training trials, no ratings to analyse")
    refs = sorted(rated.loc[rated["role"] == "hidden_reference", "condition"].unique())
    if not refs:
        raise AnalysisInputError(
            f"{source}, column 'role': no hidden-reference condition (role 'hidden_reference');"
            " post-screening and gap closure need one"
        )
    if len(refs) > 1:
        raise AnalysisInputError(
            f"{source}, column 'role': several hidden-reference conditions ({', '.join(refs)});"
            " exactly one is expected"
        )
    listeners = rated["listener"].unique()
    if len(listeners) < 2:
        raise AnalysisInputError(
            f"{source}: only one listener ({listeners[0]!r}); the listener is the unit of "
            "replication, so at least two are needed"
        )
    out = df.loc[:, list(TIDY_COLUMNS)].reset_index(drop=True)
    return out


def rated(data: pd.DataFrame) -> pd.DataFrame:
    """The ratings that count: training trials removed."""
    return data.loc[~data["is_training"].to_numpy(bool)]


def reference_condition(data: pd.DataFrame) -> str:
    """Name of the (single) hidden-reference condition."""
    refs = data.loc[data["role"] == "hidden_reference", "condition"].unique()
    if len(refs) != 1:
        raise AnalysisInputError("the ratings need exactly one hidden-reference condition")
    return str(refs[0])


def condition_roles(data: pd.DataFrame) -> dict[str, str]:
    """Condition -> role, in report order: hidden reference, systems (sorted), anchors."""
    pairs = data.drop_duplicates("condition")[["condition", "role"]]
    order = {"hidden_reference": 0, "system": 1, "anchor": 2}
    pairs = sorted(pairs.itertuples(index=False), key=lambda r: (order[r.role], r.condition))
    return {r.condition: r.role for r in pairs}


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
def _from_tidy_strings(raw: pd.DataFrame, default_test: str) -> pd.DataFrame:
    out = pd.DataFrame(index=raw.index)
    out["test"] = raw["test"] if "test" in raw.columns else default_test
    for col in ("listener", "item", "condition", "role", "score"):
        out[col] = raw[col]
    for col in ("time_spent_s", "all_played", "is_training"):
        if col in raw.columns:
            out[col] = raw[col]
    out[_LINE] = raw[_LINE]
    return out


def _from_webmushra(raw: pd.DataFrame, source: str, listener_column: str | None) -> pd.DataFrame:
    columns = list(raw.columns)
    participant = [c for c in columns if c not in WEBMUSHRA_FIXED and c != _LINE]
    if listener_column:
        if listener_column not in columns:
            raise AnalysisInputError(
                f"{source}: --listener-column {listener_column!r} is not a column "
                f"(participant columns: {', '.join(participant) or 'none'})"
            )
        id_col = listener_column
    elif "session_uuid" in columns and (raw["session_uuid"].str.strip() != "").all():
        id_col = "session_uuid"
    else:
        found = [c for c in WEBMUSHRA_ID_COLUMNS if c in columns]
        if not found:
            raise AnalysisInputError(
                f"{source}: webMUSHRA CSV without session_uuid or an id column "
                f"({', '.join(WEBMUSHRA_ID_COLUMNS)}); name the listener column with "
                "--listener-column"
            )
        id_col = found[0]
    stimulus = raw["rating_stimulus"].str.strip()
    lower = stimulus.str.lower()
    role = np.where(
        lower == "reference",
        "hidden_reference",
        np.where(lower.str.startswith("anchor"), "anchor", "system"),
    )
    out = pd.DataFrame(
        {
            "test": raw["session_test_id"],
            "listener": raw[id_col],
            "item": raw["trial_id"],
            "condition": stimulus,
            "role": role,
            "score": raw["rating_score"],
        },
        index=raw.index,
    )
    if "rating_time" in columns:
        ms = pd.to_numeric(raw["rating_time"].str.strip().replace("", None), errors="coerce")
        out["time_spent_s"] = ms / 1000.0  # webMUSHRA stores milliseconds
    out["all_played"] = pd.array([pd.NA] * len(raw), dtype="boolean")  # not recorded
    out["is_training"] = raw["trial_id"].str.contains(WEBMUSHRA_TRAINING)
    out[_LINE] = raw[_LINE]
    return out


def _from_db_values(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    for col in ("test", "listener", "item", "condition", "role"):
        frame[col] = frame[col].map(lambda v: v if v is None else str(v))
    return frame


def _select_test(df: pd.DataFrame, test: str | None, source: str) -> pd.DataFrame:
    names = df["test"].astype(str).str.strip()
    present = sorted(set(names) - {""})
    if test is not None:
        sel = df[names == test]
        if sel.empty:
            raise AnalysisInputError(
                f"{source}: no ratings for test {test!r} (tests in file: "
                f"{', '.join(present) or 'none'})"
            )
        return sel
    if len(present) > 1:
        raise AnalysisInputError(
            f"{source}: holds several tests ({', '.join(present)}); choose one with --test"
        )
    return df


def _parse_bool(df: pd.DataFrame, col: str, source: str, allow_missing: bool) -> pd.Series:
    values = df[col]
    if pd.api.types.is_bool_dtype(values) and not values.isna().any():
        return values.astype("boolean")
    text = values.astype("string").str.strip().str.lower()
    missing = text.isna() | (text == "") | (text == "nan") | (text == "<na>") | (text == "none")
    true = text.isin(_TRUE)
    false = text.isin(_FALSE)
    bad = ~(true | false | missing)
    if not allow_missing:
        bad |= missing
    if bad.any():
        _fail(
            df,
            bad.fillna(True).to_numpy(bool),
            source,
            col,
            f"{df.loc[bad.fillna(True).to_numpy(bool), col].iat[0]!r} is not true/false",
        )
    out = pd.array(np.where(true.fillna(False), True, False), dtype="boolean")
    out[missing.fillna(True).to_numpy(bool)] = pd.NA
    return pd.Series(out, index=df.index)


def _where(df: pd.DataFrame, index, source: str) -> str:
    line = df.at[index, _LINE] if _LINE in df.columns else pd.NA
    if pd.notna(line):
        return f"{source} line {int(line)}"
    pos = df.index.get_loc(index) + 1
    parts = [
        f"{c} {df.at[index, c]!r}"
        for c in ("listener", "item", "condition")
        if c in df.columns and pd.notna(df.at[index, c])
    ]
    return f"{source} row {pos}" + (f" ({', '.join(parts)})" if parts else "")


def _fail(df: pd.DataFrame, mask, source: str, column: str, what: str):
    mask = np.asarray(mask, dtype=bool)
    idx = df.index[mask]
    more = len(idx) - 1
    tail = f" ({more} more row{'s' if more != 1 else ''} like this)" if more else ""
    raise AnalysisInputError(f"{_where(df, idx[0], source)}, column {column!r}: {what}{tail}")


def _safe_url(url: str) -> str:
    try:
        import sqlalchemy as sa

        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only for display
        return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", str(url))


def _first_line(exc) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
