"""The listening-test config (TOML): what listeners see and which rules hold. Pure.

Every key is optional; :data:`DEFAULTS` documents them (``configs/test.toml`` spells them out).
:func:`fit_to_set` checks a config against a listening-set manifest and picks the items and
conditions shown, so a bad config is refused before the server starts.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalapp.errors import TestConfigError

MAX_STIMULI_PER_PAGE = 12  # ITU-R BS.1534-3: at most 12 stimuli on one page, hidden reference included
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
_PARAM = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
_PLACEHOLDERS = {"code", "participant"}

DEFAULT_INSTRUCTIONS = """\
In each trial you hear a **reference** recording and several unlabeled versions of the same
sentence. One of them is the reference itself (hidden), others are processed or synthesised.

* Play the reference and every version; switch freely while playing: playback continues at the
  same position. Drag on the waveform to loop a region.
* Rate each version from 0 to 100 **compared with the reference**; the hidden reference deserves
  100. Any difference you hear counts as an impairment.
* Keyboard: space plays/stops, `r` plays the reference, digits play the versions.

Every trial is saved the moment you submit it; you can leave and come back with your link.
"""

DEFAULT_CONSENT = """\
This listening test is part of a research study on speech synthesis. Taking part is voluntary
and you can stop at any time. We store your ratings, the time you spend on each page and your
browser's user agent, under a random identifier. Please use headphones in a quiet room.
"""


@dataclass(frozen=True)
class Rules:
    """Conditions a trial must meet before it can be submitted (checked in browser and server)."""

    all_played: bool = True       # every stimulus must have been played
    one_rated_100: bool = True    # at least one stimulus rated 100 (BS.1534-3: the hidden reference)
    min_listen_s: float = 1.0     # seconds a stimulus must sound before it counts as played


@dataclass(frozen=True)
class TestConfig:
    """One listening test. ``name`` is the key under which ratings are stored."""

    __test__ = False  # not a pytest test class

    name: str = ""                       # empty: the listening set's name
    title: str = "Listening test"
    instructions: str = DEFAULT_INSTRUCTIONS
    consent: str = DEFAULT_CONSENT
    question: str = "How similar is each version to the reference? Rate any difference as an impairment."
    show_text: bool = True               # show the sentence under test
    training_items: int = 1              # items rated once for familiarisation (not scored)
    items: tuple[str, ...] = ()          # item ids shown; empty: all items of the set
    conditions: tuple[str, ...] = ()     # condition ids shown; empty: all (hidden reference always)
    seed: int = 20240601                 # per-listener orders are drawn from (seed, listener id)
    rules: Rules = field(default_factory=Rules)
    participant_param: str = "PROLIFIC_PID"   # query parameter carrying an external participant id
    completion_url: str = ""             # e.g. https://app.prolific.com/submissions/complete?cc={code}
    completion_code: str = ""            # fixed code (Prolific style); empty: one per listener
    source: str = "<defaults>"


_KEYS = {"name", "title", "instructions", "consent", "question", "show_text", "training_items",
         "items", "conditions", "seed", "rules", "crowdsourcing"}
_RULE_KEYS = {"all_played", "one_rated_100", "min_listen_s"}
_CROWD_KEYS = {"participant_param", "completion_url", "completion_code"}


def _get(table: dict, key: str, kind: type | tuple, default: Any, where: str) -> Any:
    if key not in table:
        return default
    value = table[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        ok = False
    else:
        ok = isinstance(value, kinds)
    if not ok:
        names = " or ".join(k.__name__ for k in kinds)
        raise TestConfigError(f"{where}: '{key}' must be {names}, got {value!r}")
    return value


def _str_list(table: dict, key: str, where: str) -> tuple[str, ...]:
    values = _get(table, key, list, [], where)
    if not all(isinstance(v, str) and v for v in values):
        raise TestConfigError(f"{where}: '{key}' must be a list of ids (strings)")
    dups = sorted({v for v in values if values.count(v) > 1})
    if dups:
        raise TestConfigError(f"{where}: '{key}' lists {dups[0]!r} twice")
    return tuple(values)


def parse_test_config(data: dict, source: str = "<config>") -> TestConfig:
    """Check a decoded TOML table; every problem raises :class:`TestConfigError` naming ``source``."""
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise TestConfigError(f"{source}: unknown setting {unknown[0]!r} (known: {', '.join(sorted(_KEYS))})")
    name = _get(data, "name", str, "", source)
    if name and not _NAME.fullmatch(name):
        raise TestConfigError(f"{source}: 'name' {name!r} must be 1-64 letters, digits, '_', '-', '.'")
    training = _get(data, "training_items", int, 1, source)
    if training < 0:
        raise TestConfigError(f"{source}: 'training_items' must be 0 or more, got {training}")
    rules_t = _get(data, "rules", dict, {}, source)
    bad = sorted(set(rules_t) - _RULE_KEYS)
    if bad:
        raise TestConfigError(f"{source}: [rules]: unknown setting {bad[0]!r} (known: {', '.join(sorted(_RULE_KEYS))})")
    where_r = f"{source}: [rules]"
    min_listen = float(_get(rules_t, "min_listen_s", (int, float), 1.0, where_r))
    if not 0 <= min_listen <= 60:
        raise TestConfigError(f"{where_r}: 'min_listen_s' must be within 0-60 s, got {min_listen}")
    rules = Rules(all_played=_get(rules_t, "all_played", bool, True, where_r),
                  one_rated_100=_get(rules_t, "one_rated_100", bool, True, where_r),
                  min_listen_s=min_listen)
    crowd = _get(data, "crowdsourcing", dict, {}, source)
    where_c = f"{source}: [crowdsourcing]"
    bad = sorted(set(crowd) - _CROWD_KEYS)
    if bad:
        raise TestConfigError(f"{where_c}: unknown setting {bad[0]!r} (known: {', '.join(sorted(_CROWD_KEYS))})")
    param = _get(crowd, "participant_param", str, "PROLIFIC_PID", where_c)
    if not _PARAM.fullmatch(param) or param == "resume":
        raise TestConfigError(f"{where_c}: 'participant_param' {param!r} must be a plain query-parameter name "
                              "(not 'resume')")
    url = _get(crowd, "completion_url", str, "", where_c)
    if url:
        if not url.startswith(("https://", "http://")):
            raise TestConfigError(f"{where_c}: 'completion_url' must start with https:// or http://")
        used = set(re.findall(r"{([^{}]*)}", url))
        if used - _PLACEHOLDERS:
            raise TestConfigError(f"{where_c}: 'completion_url' has unknown placeholder "
                                  f"{{{min(used - _PLACEHOLDERS)}}} (known: {{code}}, {{participant}})")
    code = _get(crowd, "completion_code", str, "", where_c)
    if code and not re.fullmatch(r"[A-Za-z0-9_\-]{1,64}", code):
        raise TestConfigError(f"{where_c}: 'completion_code' must be letters, digits, '_' or '-'")
    return TestConfig(
        name=name,
        title=_get(data, "title", str, TestConfig.title, source),
        instructions=_get(data, "instructions", str, DEFAULT_INSTRUCTIONS, source),
        consent=_get(data, "consent", str, DEFAULT_CONSENT, source),
        question=_get(data, "question", str, TestConfig.question, source),
        show_text=_get(data, "show_text", bool, True, source),
        training_items=training,
        items=_str_list(data, "items", source),
        conditions=_str_list(data, "conditions", source),
        seed=_get(data, "seed", int, TestConfig.seed, source),
        rules=rules,
        participant_param=param,
        completion_url=url,
        completion_code=code,
        source=source,
    )


def load_test_config(path: str | Path | None) -> TestConfig:
    """Read a test config; ``None`` gives the defaults."""
    if path is None:
        return TestConfig()
    path = Path(path)
    if not path.is_file():
        raise TestConfigError(f"{path}: test config file does not exist")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise TestConfigError(f"{path}: not UTF-8 text ({exc.reason})") from None
    except tomllib.TOMLDecodeError as exc:
        raise TestConfigError(f"{path}: invalid TOML ({exc})") from None
    return parse_test_config(data, str(path))


@dataclass(frozen=True)
class TestDesign:
    """What a config selects from a listening set: the test name, items and conditions shown."""

    __test__ = False

    name: str
    items: tuple[str, ...]
    conditions: tuple[str, ...]       # in manifest order; includes the hidden reference
    reference: str                    # the hidden-reference condition id
    roles: dict[str, str]             # condition id -> role


def fit_to_set(config: TestConfig, manifest) -> TestDesign:
    """Check ``config`` against a listening-set manifest and select what is shown.

    Raises:
        TestConfigError: unknown item/condition ids, more than 12 stimuli on a page, or more
            training items than items.
    """
    known_items = [i.id for i in manifest.items]
    known_conds = [c.id for c in manifest.conditions]
    for iid in config.items:
        if iid not in known_items:
            raise TestConfigError(f"{config.source}: 'items' names {iid!r}, which the listening set "
                                  f"'{manifest.name}' does not hold")
    for cid in config.conditions:
        if cid not in known_conds:
            raise TestConfigError(f"{config.source}: 'conditions' names {cid!r}, which the listening set "
                                  f"'{manifest.name}' does not hold (it has: {', '.join(known_conds)})")
    reference = manifest.reference.id
    chosen = set(config.conditions) | {reference} if config.conditions else set(known_conds)
    conditions = tuple(c for c in known_conds if c in chosen)
    if len(conditions) > MAX_STIMULI_PER_PAGE:
        raise TestConfigError(f"{config.source}: {len(conditions)} stimuli on one page; ITU-R BS.1534-3 allows at "
                              f"most {MAX_STIMULI_PER_PAGE} (select fewer with 'conditions')")
    if len(conditions) < 2:
        raise TestConfigError(f"{config.source}: a MUSHRA page needs the hidden reference and at least one "
                              "other condition")
    items = tuple(i for i in known_items if i in set(config.items)) if config.items else tuple(known_items)
    if config.training_items > len(items):
        raise TestConfigError(f"{config.source}: 'training_items' is {config.training_items} but only "
                              f"{len(items)} items are shown")
    roles = {c.id: c.role for c in manifest.conditions if c.id in conditions}
    return TestDesign(name=config.name or manifest.name, items=items, conditions=conditions,
                      reference=reference, roles=roles)
