"""Loading and validating the tidy table: tidy CSV, webMUSHRA CSV, database, bad input."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa

from analysis.data import TIDY_COLUMNS, load, read_csv, read_db, validate
from analysis.errors import AnalysisInputError
from analysis.simulate import write_db


def test_tidy_csv_round_trip(tmp_path, ratings):
    path = tmp_path / "r.csv"
    ratings.to_csv(path, index=False)
    data, layout = read_csv(path)
    assert layout == "tidy"
    assert list(data.columns) == list(TIDY_COLUMNS)
    assert len(data) == len(ratings)
    assert data["score"].dtype == float
    assert data["is_training"].dtype == bool
    pd.testing.assert_series_equal(data["score"], ratings["score"], check_names=False)


def _webmushra(tmp_path, uuid=True, extra_training=True):
    # Layout of webMUSHRA's service/write.php: session_test_id, participant columns,
    # session_uuid (newer versions), trial_id, rating_stimulus, rating_score, rating_time,
    # rating_comment.
    lines = [
        "session_test_id,email,age,gender"
        + (",session_uuid" if uuid else "")
        + ",trial_id,rating_stimulus,rating_score,rating_time,rating_comment"
    ]
    stimuli = [("reference", 100), ("anchor35", 10), ("anchor70", 40), ("C1", 60), ("C2", 70)]
    trials = ["trial1", "trial2", "trial3"] + (["training_page"] if extra_training else [])
    for p, email in enumerate(["a@x.org", "b@x.org", "c@x.org"]):
        for t in trials:
            for s, score in stimuli:
                mid = f",u-{p}" if uuid else ""
                lines.append(
                    f'mytest,{email},30,f{mid},{t},{s},{min(score + p, 100)},{1500 + p},"ok, fine"'
                )
    path = tmp_path / "mushra.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_webmushra_detected_and_mapped(tmp_path):
    data, layout = read_csv(_webmushra(tmp_path))
    assert layout == "webmushra"
    assert set(data["listener"]) == {"u-0", "u-1", "u-2"}
    roles = data.drop_duplicates("condition").set_index("condition")["role"].to_dict()
    assert roles == {
        "reference": "hidden_reference",
        "anchor35": "anchor",
        "anchor70": "anchor",
        "C1": "system",
        "C2": "system",
    }
    assert data.loc[data["item"] == "training_page", "is_training"].all()
    assert not data.loc[data["item"] == "trial1", "is_training"].any()
    assert data["time_spent_s"].iloc[0] == pytest.approx(1.5)  # milliseconds -> seconds
    assert data["test"].unique().tolist() == ["mytest"]


def test_webmushra_without_uuid_uses_email(tmp_path):
    data, _ = read_csv(_webmushra(tmp_path, uuid=False))
    assert set(data["listener"]) == {"a@x.org", "b@x.org", "c@x.org"}
    # every participant has gender f: as listener id that makes duplicated ratings
    with pytest.raises(AnalysisInputError, match=r"lines 2 and 22: duplicated"):
        read_csv(_webmushra(tmp_path, uuid=False), listener_column="gender")
    with pytest.raises(AnalysisInputError, match="is not a column"):
        read_csv(_webmushra(tmp_path, uuid=False), listener_column="nope")


def test_db_reads_one_test_with_bound_parameter(tmp_path, ratings):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    other = ratings.assign(test="o'brien; DROP TABLE tidy_ratings")
    write_db(ratings.assign(test="mine"), url)
    write_db(other, url)
    data = read_db(url, "mine")
    assert len(data) == len(ratings)
    data2 = read_db(url, "o'brien; DROP TABLE tidy_ratings")
    assert len(data2) == len(ratings)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        n = conn.execute(sa.text("select count(*) from tidy_ratings")).scalar_one()
    engine.dispose()
    assert n == 2 * len(ratings)


def test_db_errors(tmp_path, ratings):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    write_db(ratings, url)
    with pytest.raises(AnalysisInputError, match="no ratings for test 'nope'.*simulated"):
        read_db(url, "nope")
    with pytest.raises(AnalysisInputError, match="no such database file"):
        read_db(f"sqlite:///{tmp_path / 'missing.db'}", "x")
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    sa.create_engine(empty).connect().close()
    with pytest.raises(AnalysisInputError, match="cannot read tidy_ratings"):
        read_db(empty, "x")
    with pytest.raises(AnalysisInputError, match="--test"):
        load(db_url=url)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.iloc[0:0], "no ratings"),
        (lambda d: d[d["listener"] == d["listener"].iat[0]], "only one listener"),
        (lambda d: d[d["role"] != "hidden_reference"], "no hidden-reference condition"),
        (
            lambda d: d.assign(score=d["score"].where(d.index != 5, 104.0)),
            r"line 7, column 'score': 104 is outside 0-100",
        ),
        (lambda d: d.assign(score=d["score"].where(d.index != 3, -1.0)), "outside 0-100"),
        (
            lambda d: d.assign(score=d["score"].astype(object).where(d.index != 2, "")),
            r"line 4, column 'score': is missing",
        ),
        (
            lambda d: d.assign(score=d["score"].astype(object).where(d.index != 2, "abc")),
            "'abc' is not a number",
        ),
        (
            lambda d: pd.concat([d, d.iloc[[4]]]),
            r"lines? .*duplicated \(listener, item, condition\)",
        ),
        (lambda d: d.assign(role=d["role"].where(d.index != 1, "bogus")), "'bogus' is not one of"),
        (
            lambda d: d.assign(listener=d["listener"].where(d.index != 1, "")),
            "column 'listener': is empty",
        ),
        (
            lambda d: d.assign(
                is_training=d["is_training"].astype(object).where(d.index != 1, "maybe")
            ),
            "column 'is_training': 'maybe' is not true/false",
        ),
    ],
)
def test_bad_tidy_csv(tmp_path, ratings, mutate, message):
    path = tmp_path / "bad.csv"
    mutate(ratings).to_csv(path, index=False)
    with pytest.raises(AnalysisInputError, match=message):
        read_csv(path)


def test_unknown_layout_and_empty_file(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(AnalysisInputError, match="unknown CSV layout"):
        read_csv(path)
    path.write_text("")
    with pytest.raises(AnalysisInputError, match="empty"):
        read_csv(path)
    with pytest.raises(AnalysisInputError, match="no such file"):
        read_csv(tmp_path / "missing.csv")


def test_several_tests_need_a_choice(tmp_path, ratings):
    both = pd.concat([ratings.assign(test="a"), ratings.assign(test="b")])
    path = tmp_path / "two.csv"
    both.to_csv(path, index=False)
    with pytest.raises(AnalysisInputError, match="several tests"):
        read_csv(path)
    data, _ = read_csv(path, test="b")
    assert set(data["test"]) == {"b"}


def test_validate_dataframe_names_rows(ratings):
    bad = ratings.copy()
    bad.loc[3, "score"] = 200
    with pytest.raises(AnalysisInputError, match=r"row 4 \(listener 'L01'"):
        validate(bad, source="frame")


def test_db_reads_a_view(tmp_path, ratings):
    """evalapp provides tidy_ratings as a VIEW over its own tables."""
    url = f"sqlite:///{tmp_path / 'app.db'}"
    engine = sa.create_engine(url)
    raw = ratings.rename(columns={"score": "value", "listener": "who"})
    raw["all_played"] = raw["all_played"].astype(int)
    raw["is_training"] = raw["is_training"].astype(int)
    raw.to_sql("trial_ratings", engine, index=False)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE VIEW tidy_ratings AS SELECT test, who AS listener, item, condition, role, "
                "value AS score, time_spent_s, all_played, is_training FROM trial_ratings"
            )
        )
    engine.dispose()
    data = read_db(url, "simulated")
    assert len(data) == len(ratings)
    assert data["is_training"].dtype == bool
    assert data["score"].sum() == ratings["score"].sum()
