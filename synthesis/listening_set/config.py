"""The build-set configuration (TOML), parsed and checked before any audio is touched."""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from synthesis.errors import ConfigError
from synthesis.listening_set.manifest import MAX_STIMULI_PER_PAGE, _ID

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = REPO_ROOT / "configs" / "listening_set.toml"


@dataclass(frozen=True)
class ConditionSpec:
    """One condition of the set: its id (never shown to listeners), kind and kind parameters."""

    id: str
    kind: str
    label: str = ""
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class SetConfig:
    name: str
    conditions: tuple[ConditionSpec, ...]
    n_items: int = 12
    seed: int = 1234
    subset: str = "test"
    items: tuple[str, ...] = ()
    corpus: str = ""
    split: str = ""
    sample_rate: int = 22_050
    target_lufs: float = -23.0
    peak_limit_dbtp: float = -1.0
    trim_top_db: float = 40.0
    trim_pad_s: float = 0.1
    workers: int = 2
    source: str = ""

    def canonical(self) -> dict:
        """The settings that decide the output (not where the config came from, nor workers)."""
        d = asdict(self)
        d.pop("source")
        d.pop("workers")
        return d

    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.canonical(), sort_keys=True).encode()).hexdigest()[:16]


_TOP_KEYS = {"name", "n_items", "seed", "subset", "items", "corpus", "split", "sample_rate", "loudness",
             "trim", "conditions", "workers"}


def _get(table: dict, key: str, kind: type | tuple, default: Any, where: str) -> Any:
    if key not in table:
        return default
    value = table[key]
    ok = isinstance(value, kind) and not (isinstance(value, bool) and kind in (int, float, (int, float)))
    if not ok:
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ConfigError(f"{where}: '{key}' must be {names}, got {value!r}")
    return value


def parse_set_config(data: dict, source: str = "<config>", known_kinds: dict[str, set[str]] | None = None
                     ) -> SetConfig:
    """Check a decoded TOML table. ``known_kinds`` maps each condition kind to its allowed keys."""
    from synthesis.listening_set.conditions import CONDITION_KINDS

    known_kinds = known_kinds or {k: v.params for k, v in CONDITION_KINDS.items()}
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise ConfigError(f"{source}: unknown setting {unknown[0]!r} (known: {', '.join(sorted(_TOP_KEYS))})")
    loud = _get(data, "loudness", dict, {}, source)
    trim = _get(data, "trim", dict, {}, source)
    raw_conditions = _get(data, "conditions", list, None, source)
    if not raw_conditions:
        raise ConfigError(f"{source}: no [[conditions]] given")
    specs = []
    for n, c in enumerate(raw_conditions):
        where = f"{source}: conditions[{n}]"
        if not isinstance(c, dict):
            raise ConfigError(f"{where}: must be a table")
        cid = _get(c, "id", str, None, where)
        kind = _get(c, "kind", str, None, where)
        if not cid or not kind:
            raise ConfigError(f"{where}: needs 'id' and 'kind'")
        import re

        if not re.fullmatch(_ID["pattern"], cid):
            raise ConfigError(f"{where}: condition id {cid!r} must be letters, digits, '_', '-', '.'")
        if kind not in known_kinds:
            raise ConfigError(f"{where}: unknown condition kind {kind!r} (known: {', '.join(sorted(known_kinds))})")
        params = {k: v for k, v in c.items() if k not in ("id", "kind", "label")}
        bad = sorted(set(params) - known_kinds[kind])
        if bad:
            allowed = ", ".join(sorted(known_kinds[kind])) or "none"
            raise ConfigError(f"{where}: unknown setting {bad[0]!r} for kind {kind!r} (allowed: {allowed})")
        specs.append(ConditionSpec(cid, kind, _get(c, "label", str, "", where), params))
    ids = [s.id for s in specs]
    dups = sorted({i for i in ids if ids.count(i) > 1})
    if dups:
        raise ConfigError(f"{source}: condition id {dups[0]!r} appears twice")
    n_ref = sum(s.kind == "recording" for s in specs)
    if n_ref != 1:
        raise ConfigError(f"{source}: exactly one condition of kind 'recording' (the hidden reference) is needed,"
                          f" found {n_ref}")
    if len(specs) > MAX_STIMULI_PER_PAGE:
        raise ConfigError(f"{source}: {len(specs)} conditions; BS.1534-3 allows at most {MAX_STIMULI_PER_PAGE}"
                          " stimuli on one page")
    n_items = _get(data, "n_items", int, 12, source)
    if n_items < 1:
        raise ConfigError(f"{source}: 'n_items' must be at least 1, got {n_items}")
    subset = _get(data, "subset", str, "test", source)
    if subset not in ("train", "validation", "test"):
        raise ConfigError(f"{source}: 'subset' must be train, validation or test, got {subset!r}")
    items = _get(data, "items", list, [], source)
    if not all(isinstance(i, str) for i in items):
        raise ConfigError(f"{source}: 'items' must be a list of clip ids")
    workers = _get(data, "workers", int, 2, source)
    return SetConfig(
        name=_get(data, "name", str, Path(source).stem or "listening-set", source),
        conditions=tuple(specs),
        n_items=n_items,
        seed=_get(data, "seed", int, 1234, source),
        subset=subset,
        items=tuple(items),
        corpus=_get(data, "corpus", str, "", source),
        split=_get(data, "split", str, "", source),
        sample_rate=_get(data, "sample_rate", int, 22_050, source),
        target_lufs=float(_get(loud, "target_lufs", (int, float), -23.0, f"{source}: [loudness]")),
        peak_limit_dbtp=float(_get(loud, "peak_limit_dbtp", (int, float), -1.0, f"{source}: [loudness]")),
        trim_top_db=float(_get(trim, "top_db", (int, float), 40.0, f"{source}: [trim]")),
        trim_pad_s=float(_get(trim, "pad_s", (int, float), 0.1, f"{source}: [trim]")),
        workers=max(1, workers),
        source=source,
    )


def load_set_config(path: str | Path | None = None) -> SetConfig:
    path = Path(path) if path else DEFAULT_CONFIG
    if not path.is_file():
        raise ConfigError(f"{path}: config file does not exist")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML ({exc})") from exc
    return parse_set_config(data, str(path))
