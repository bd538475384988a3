"""Ratings out of the database: the tidy long table and webMUSHRA's MUSHRA CSV layout.

Tidy (the contract with ``analysis``): ``test, listener, item, condition, role, score, time_spent_s,
all_played, is_training``; one row per rated stimulus, training rows included (flagged).

webMUSHRA (``results/<test>/mushra.csv`` as its ``service/write.php`` writes it):
``session_test_id``, the participant columns (here ``participant_id``, the external id, and
``session_uuid``, our opaque listener id), ``trial_id`` (the item), ``rating_stimulus``,
``rating_score``, ``rating_time`` (milliseconds on the page), ``rating_comment``. Scored trials
only (webMUSHRA does not store training pages). Its tools find the hidden reference as the stimulus
named ``reference`` and anchors by the prefix ``anchor``, so the stimulus names are mapped to keep
roles intact: hidden reference -> ``reference``, an anchor whose id lacks the prefix ->
``anchor_<id>``, a system whose id would look like either -> ``system_<id>``.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from pathlib import Path

from evalapp.errors import EvalappError
from evalapp.storage import repository as repo

FORMATS = ("tidy", "webmushra")
WEBMUSHRA_COLUMNS = ("session_test_id", "participant_id", "session_uuid", "trial_id", "rating_stimulus",
                     "rating_score", "rating_time", "rating_comment")


def _bool(value) -> str:
    return "" if value is None else ("true" if bool(value) else "false")


def tidy_table(engine, test_name: str) -> tuple[tuple[str, ...], list[list]]:
    rows = []
    for test, listener, item, condition, role, score, seconds, all_played, training in \
            repo.tidy_rows(engine, test_name):
        rows.append([test, listener, item, condition, role, int(score),
                     "" if seconds is None else round(float(seconds), 3), _bool(all_played), _bool(training)])
    return repo.TIDY_COLUMNS, rows


def webmushra_stimulus_name(condition_id: str, role: str) -> str:
    lower = condition_id.lower()
    if role == "hidden_reference":
        return "reference"
    if role == "anchor":
        return condition_id if lower.startswith("anchor") else f"anchor_{condition_id}"
    return f"system_{condition_id}" if lower.startswith("anchor") or lower == "reference" else condition_id


def webmushra_table(engine, test_name: str) -> tuple[tuple[str, ...], list[list]]:
    rows = []
    for r in repo.webmushra_rows(engine, test_name):
        ms = "" if r["time_on_page_s"] is None else round(r["time_on_page_s"] * 1000)
        rows.append([r["test"], r["participant_id"] or "", r["public_id"], r["item_id"],
                     webmushra_stimulus_name(r["condition_id"], r["role"]), int(r["score"]), ms, ""])
    return WEBMUSHRA_COLUMNS, rows


def table(engine, test_name: str, fmt: str) -> tuple[tuple[str, ...], list[list]]:
    if fmt not in FORMATS:
        raise EvalappError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if repo.get_test(engine, test_name) is None:
        known = ", ".join(repo.list_tests(engine)) or "none"
        raise EvalappError(f"--test {test_name!r}: no such test in the database (tests there: {known})")
    return tidy_table(engine, test_name) if fmt == "tidy" else webmushra_table(engine, test_name)


def to_csv(header, rows) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def write_atomic(text: str, out: str | Path) -> None:
    """Write via a temporary file in the same folder and rename: never a partial CSV."""
    out = Path(out)
    if not out.parent.is_dir():
        raise EvalappError(f"--out {out}: folder {out.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
