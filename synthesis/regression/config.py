"""The regression config (TOML): which sentences, which metrics with which tolerances, and
how the listening set is built. Checked completely before any model is loaded.

::

    sentences = "data/regression/sentences.tsv"   # relative paths: from the repository root
    ids = []                                       # a subset of sentence ids; empty: all
    seed = 1234                                    # torch seed before each version speaks

    [metrics.mcd]
    max_worse = 0.3      # the candidate fails when worse than the release by more than this
    gate = true          # false: measured and reported, never fails the check

    [set]
    anchors_hz = [3500, 7000]
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

from synthesis.errors import ConfigError
from synthesis.regression.metrics import METRICS
from synthesis.regression.sentences import DEFAULT_SENTENCES, REPO_ROOT

DEFAULT_CONFIG = REPO_ROOT / "configs" / "regress.toml"
_TOP_KEYS = {"sentences", "ids", "seed", "metrics", "set"}
_METRIC_KEYS = {"max_worse", "gate"}
_SET_KEYS = {"anchors_hz", "target_lufs", "name"}


@dataclass(frozen=True)
class Tolerance:
    max_worse: float     # in the metric's display unit (value * scale)
    gate: bool = True


@dataclass(frozen=True)
class RegressConfig:
    metrics: dict[str, Tolerance]
    sentences: str = str(DEFAULT_SENTENCES)
    ids: tuple[str, ...] = ()
    seed: int = 1234
    anchors_hz: tuple[float, ...] = (3500.0, 7000.0)
    target_lufs: float = -23.0
    set_name: str = "regression"
    source: str = "<config>"

    def hash(self) -> str:
        d = asdict(self)
        d.pop("source")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def _number(value, where: str, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where}: '{key}' must be a number, got {value!r}")
    return float(value)


def parse_regress_config(data: dict, source: str = "<config>") -> RegressConfig:
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise ConfigError(f"{source}: unknown setting {unknown[0]!r} (known: {', '.join(sorted(_TOP_KEYS))})")
    raw_metrics = data.get("metrics")
    if not isinstance(raw_metrics, dict) or not raw_metrics:
        raise ConfigError(f"{source}: no [metrics.<name>] tables (known metrics: {', '.join(METRICS)})")
    metrics: dict[str, Tolerance] = {}
    for name, table in raw_metrics.items():
        where = f"{source}: [metrics.{name}]"
        if name not in METRICS:
            raise ConfigError(f"{where}: unknown metric {name!r} (known: {', '.join(METRICS)})")
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: must be a table such as {{ max_worse = 0.1 }}")
        bad = sorted(set(table) - _METRIC_KEYS)
        if bad:
            raise ConfigError(f"{where}: unknown setting {bad[0]!r} (known: {', '.join(sorted(_METRIC_KEYS))})")
        if "max_worse" not in table:
            raise ConfigError(f"{where}: needs max_worse (the tolerated worsening, in {METRICS[name].unit})")
        tol = _number(table["max_worse"], where, "max_worse")
        if tol < 0:
            raise ConfigError(f"{where}: max_worse must be >= 0, got {tol}")
        gate = table.get("gate", True)
        if not isinstance(gate, bool):
            raise ConfigError(f"{where}: gate must be true or false, got {gate!r}")
        metrics[name] = Tolerance(tol, gate)
    sentences = data.get("sentences", "")
    if not isinstance(sentences, str):
        raise ConfigError(f"{source}: 'sentences' must be a path, got {sentences!r}")
    if sentences and not Path(sentences).is_absolute():
        sentences = str(REPO_ROOT / sentences)
    ids = data.get("ids", [])
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ConfigError(f"{source}: 'ids' must be a list of sentence ids")
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{source}: 'ids' lists a sentence twice")
    seed = data.get("seed", 1234)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"{source}: 'seed' must be an integer, got {seed!r}")
    set_table = data.get("set", {})
    if not isinstance(set_table, dict):
        raise ConfigError(f"{source}: [set] must be a table")
    bad = sorted(set(set_table) - _SET_KEYS)
    if bad:
        raise ConfigError(f"{source}: [set] unknown setting {bad[0]!r} (known: {', '.join(sorted(_SET_KEYS))})")
    anchors = set_table.get("anchors_hz", [3500, 7000])
    if not isinstance(anchors, list):
        raise ConfigError(f"{source}: [set] anchors_hz must be a list of cut-off frequencies in Hz")
    anchors = tuple(_number(a, f"{source}: [set]", "anchors_hz") for a in anchors)
    if any(not 500 <= a <= 10_000 for a in anchors):
        raise ConfigError(f"{source}: [set] anchors_hz must be cut-off frequencies in 500..10000 Hz, got {list(anchors)}")
    name = set_table.get("name", "regression")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{source}: [set] name must be a non-empty string")
    return RegressConfig(
        metrics=metrics, sentences=sentences or str(DEFAULT_SENTENCES), ids=tuple(ids), seed=seed,
        anchors_hz=anchors,
        target_lufs=_number(set_table.get("target_lufs", -23.0), f"{source}: [set]", "target_lufs"),
        set_name=name, source=source)


def load_regress_config(path: str | Path | None = None) -> RegressConfig:
    path = Path(path) if path else DEFAULT_CONFIG
    if not path.is_file():
        raise ConfigError(f"{path}: config file does not exist")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML ({exc})") from None
    return parse_regress_config(data, str(path))
