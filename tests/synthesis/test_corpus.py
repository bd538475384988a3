import json
from pathlib import Path

import numpy as np
import pytest

from synthesis.cli import main
from synthesis.corpus import (
    Split,
    check_corpus,
    default_split_path,
    load_corpus,
    load_split,
    make_split,
    parse_metadata,
    read_corpus,
    seen_in_training,
    split_corpus,
)
from synthesis.errors import CorpusError

from .conftest import write


def parse(raw: bytes):
    return parse_metadata(raw, Path("metadata.csv"), Path("wavs"))


def test_parse_metadata_reads_three_and_two_field_lines():
    clips, problems = parse(b"LJ001-0001|Text one.|Text one.\nLJ001-0002|Mr. Smith|Mister Smith\nX-1|only two\n")
    assert not problems
    assert [c.id for c in clips] == ["LJ001-0001", "LJ001-0002", "X-1"]
    assert clips[1].normalized_text == "Mister Smith" and clips[1].text == "Mr. Smith"
    assert clips[2].normalized_text == "only two"
    assert clips[0].wav_path == Path("wavs/LJ001-0001.wav") and clips[0].chapter == "LJ001"


@pytest.mark.parametrize("raw, expected", [
    (b"A-1|ok|ok\nA-2|caf\xe9|x\n", "metadata.csv:2: not valid UTF-8"),
    (b"A-1|ok|ok\nA-1|again|again\n", "metadata.csv:2: duplicate id A-1 (first on line 1)"),
    (b"A-1|a|b|c\n", "metadata.csv:1: expected 'id|text|normalized text', found 4 fields"),
    (b"|text|text\n", "metadata.csv:1: invalid clip id ''"),
    (b"../x|text|text\n", "metadata.csv:1: invalid clip id '../x'"),
    (b"A-1||\n", "metadata.csv:1: clip A-1 has no text"),
])
def test_parse_metadata_names_the_bad_line(raw, expected):
    _, problems = parse(raw)
    assert str(problems[0]).startswith(expected)


def test_read_corpus_errors(tmp_path):
    with pytest.raises(CorpusError, match="does not exist"):
        read_corpus(tmp_path / "nope")
    with pytest.raises(CorpusError, match="metadata.csv: missing"):
        read_corpus(tmp_path)
    (tmp_path / "metadata.csv").write_bytes(b"")
    with pytest.raises(CorpusError, match="empty, the corpus has no clips"):
        read_corpus(tmp_path)
    (tmp_path / "metadata.csv").write_bytes(b"A-1|x|x\nA-1|y|y\n")
    with pytest.raises(CorpusError, match="duplicate id A-1"):
        load_corpus(tmp_path)


def test_bundled_corpus_is_clean(corpus_root):
    report = check_corpus(corpus_root)
    assert report.problems == []
    assert report.n_clips == report.n_ok == 483
    assert set(report.sample_rates) == {22_050}
    assert 0.85 < report.hours < 0.95
    assert set(report.chapters) == {"LJ001", "LJ002", "LJ003"}


def test_check_finds_every_broken_wav(mini_corpus):
    wavs = mini_corpus / "wavs"
    (wavs / "LJ002-0020.wav").unlink()                                   # missing
    (wavs / "LJ002-0035.wav").write_bytes(b"RIFF\x00\x00garbage")        # corrupt
    write(wavs / "LJ001-0008.wav", np.zeros(0, np.float32))              # empty
    write(wavs / "LJ001-0002.wav", np.zeros(16000, np.float32), sr=16_000)  # wrong rate
    write(wavs / "LJ001-0078.wav", np.zeros((22050, 2), np.float32))     # stereo
    report = check_corpus(mini_corpus)
    text = [str(p) for p in report.problems]
    assert report.n_ok == 1
    assert any("LJ002-0020.wav (metadata line 1): wav file is missing" in t for t in text)
    assert any("LJ002-0035.wav" in t and "unreadable audio" in t for t in text)
    assert any("LJ001-0008.wav" in t and "empty audio" in t for t in text)
    assert any("LJ001-0002.wav" in t and "sample rate 16000 Hz, expected 22050 Hz" in t for t in text)
    assert any("LJ001-0078.wav" in t and "2 channels, expected mono" in t for t in text)


def test_split_is_deterministic_stratified_and_disjoint():
    ids = [f"LJ00{c}-{i:04d}" for c, n in ((1, 186), (2, 199), (3, 98)) for i in range(1, n + 1)]
    a = make_split(ids, seed=7)
    b = make_split(list(reversed(ids)), seed=7)
    assert a == b
    assert make_split(ids, seed=8) != a
    assert (len(a.test), len(a.validation), len(a.train)) == (40, 20, 423)
    assert not set(a.test) & set(a.train) and not set(a.validation) & set(a.train)
    assert not set(a.test) & set(a.validation)
    chapters = {t.split("-")[0] for t in a.test}
    assert chapters == {"LJ001", "LJ002", "LJ003"}
    per = {ch: sum(t.startswith(ch) for t in a.test) for ch in chapters}
    assert per == {"LJ001": 15, "LJ002": 17, "LJ003": 8}  # proportional to 186/199/98


def test_committed_split_matches_regeneration(corpus_root, corpus):
    committed = load_split(default_split_path(corpus_root), corpus)
    # ljspeech-mini's split leaves LJ003 out (very likely altered audio, docs/corpus.md)
    assert committed.excluded_chapters == ("LJ003",)
    regenerated = split_corpus(corpus_root, seed=committed.seed, exclude_chapters=committed.excluded_chapters)
    assert regenerated == committed
    assert (len(committed.train), len(committed.validation), len(committed.test)) == (325, 20, 40)


def test_split_for_another_corpus_is_refused(mini_corpus, corpus_root):
    with pytest.raises(CorpusError, match="is not in"):
        load_split(default_split_path(corpus_root), load_corpus(mini_corpus))


def test_too_small_corpus_cannot_be_split():
    with pytest.raises(CorpusError, match="too few"):
        make_split(["A-1", "A-2"], n_test=2, n_validation=1)


def test_cli_corpus_check(mini_corpus, capsys, tmp_path):
    assert main(["corpus", "check", str(mini_corpus)]) == 0
    out = capsys.readouterr().out
    assert "clips: 6 listed, 6 usable" in out and "problems: 0" in out
    (mini_corpus / "wavs" / "LJ002-0012.wav").unlink()
    assert main(["corpus", "check", str(mini_corpus)]) == 1
    assert "wav file is missing" in capsys.readouterr().out
    assert main(["corpus", "check", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("synthesis: error:") and "does not exist" in err[0]


def test_cli_corpus_split_writes_file(mini_corpus, tmp_path, capsys):
    out = tmp_path / "split.json"
    assert main(["corpus", "split", str(mini_corpus), "--n-test", "2", "--n-validation", "1", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["counts"] == {"train": 3, "validation": 1, "test": 2}


def test_split_without_a_chapter_is_the_split_of_the_corpus_without_it(corpus_root, corpus):
    """--exclude-chapter LJ003: no LJ003 clip in any subset, and the same subsets (and
    fingerprint) as splitting the ids of LJ001 and LJ002 alone; recorded in the file."""
    split = split_corpus(corpus_root, exclude_chapters=("LJ003",))
    kept = [c.id for c in corpus.clips if c.chapter != "LJ003"]
    alone = make_split(kept, corpus_name=corpus.name)
    assert (split.train, split.validation, split.test, split.fingerprint) == \
        (alone.train, alone.validation, alone.test, alone.fingerprint)
    assert not any(cid.startswith("LJ003") for cid in split.train + split.validation + split.test)
    assert split.to_json()["excluded_chapters"] == ["LJ003"]
    assert "excluded_chapters" not in split_corpus(corpus_root).to_json()


def test_cli_split_refuses_an_unknown_chapter_to_exclude(mini_corpus, tmp_path, capsys):
    out = tmp_path / "split.json"
    assert main(["corpus", "split", str(mini_corpus), "--n-test", "2", "--n-validation", "1",
                 "--exclude-chapter", "LJ009", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no chapter LJ009 to exclude" in err[0] and not out.exists()
    assert main(["corpus", "split", str(mini_corpus), "--n-test", "1", "--n-validation", "1",
                 "--exclude-chapter", "LJ002", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["excluded_chapters"] == ["LJ002"] and not any(
        i.startswith("LJ002") for k in ("train", "validation", "test") for i in data[k])
    assert load_split(out).excluded_chapters == ("LJ002",)


def test_seen_in_training_is_train_and_validation_in_the_order_asked():
    training = Split("c", "-", 1, train=("A-1", "A-2"), validation=("B-1",), test=("B-2",))
    assert seen_in_training(training, ["B-2", "B-1", "C-1", "A-2"]) == ["B-1", "A-2"]
    assert seen_in_training(training, ["B-2"]) == []
