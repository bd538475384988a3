"""The test config (TOML) and how it is fitted to a listening set."""

from __future__ import annotations

import pytest

from evalapp.config import TestConfig, fit_to_set, load_test_config, parse_test_config
from evalapp.errors import TestConfigError
from synthesis.listening_set import read_set

REPO = __import__("pathlib").Path(__file__).resolve().parents[2]


def test_default_config_file_parses_and_matches_builtin_defaults():
    cfg = load_test_config(REPO / "configs" / "test.toml")
    builtin = TestConfig()
    assert cfg.rules == builtin.rules and cfg.training_items == builtin.training_items
    assert cfg.participant_param == "PROLIFIC_PID"


@pytest.mark.parametrize("data, message", [
    ({"titel": "x"}, "unknown setting 'titel'"),
    ({"training_items": "1"}, "'training_items' must be int"),
    ({"training_items": -1}, "0 or more"),
    ({"show_text": 1}, "'show_text' must be bool"),
    ({"rules": {"all_played": "yes"}}, "'all_played' must be bool"),
    ({"rules": {"min_listen_s": 99}}, "within 0-60"),
    ({"rules": {"strict": True}}, "unknown setting 'strict'"),
    ({"crowdsourcing": {"completion_url": "javascript:alert(1)"}}, "https://"),
    ({"crowdsourcing": {"completion_url": "https://x/?cc={cod}"}}, "unknown placeholder {cod}"),
    ({"crowdsourcing": {"participant_param": "resume"}}, "participant_param"),
    ({"name": "has space"}, "'name'"),
    ({"items": ["a", "a"]}, "lists 'a' twice"),
])
def test_bad_configs_name_the_problem(data, message):
    with pytest.raises(TestConfigError, match=message) as err:
        parse_test_config(data, "t.toml")
    assert str(err.value).startswith("t.toml")


def test_unreadable_config_files(tmp_path):
    with pytest.raises(TestConfigError, match="does not exist"):
        load_test_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("title = \n", encoding="utf-8")
    with pytest.raises(TestConfigError, match="invalid TOML"):
        load_test_config(bad)


def test_fit_to_set_selects_items_and_conditions(tiny_set):
    manifest = read_set(tiny_set)
    design = fit_to_set(TestConfig(), manifest)
    assert design.name == "tiny" and design.reference == "reference"
    assert design.conditions == ("reference", "anchor35", "anchor70")
    first = manifest.items[0].id
    design = fit_to_set(parse_test_config({"items": [first], "conditions": ["anchor35"],
                                           "name": "sub"}), manifest)
    assert design.items == (first,) and design.conditions == ("reference", "anchor35")  # reference kept
    with pytest.raises(TestConfigError, match="'items' names 'nope'"):
        fit_to_set(parse_test_config({"items": ["nope"]}, "c.toml"), manifest)
    with pytest.raises(TestConfigError, match="'conditions' names 'copy_world'"):
        fit_to_set(parse_test_config({"conditions": ["copy_world"]}, "c.toml"), manifest)
    with pytest.raises(TestConfigError, match="only 1 items"):
        fit_to_set(parse_test_config({"items": [first], "training_items": 2}, "c.toml"), manifest)
