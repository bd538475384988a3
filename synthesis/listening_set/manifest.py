"""The listening-set manifest (``manifest.json``): schema, dataclasses, parsing. Pure.

Version 1 layout::

    {"format": "prosody-mushra/listening-set", "format_version": 1, "name": ..., "created_with": ...,
     "sample_rate": 22050,
     "loudness": {"standard": "ITU-R BS.1770-4", "target_lufs": -23.0, "peak_limit_dbtp": -1.0},
     "trim": {"top_db": 40.0, "pad_s": 0.1},
     "build": {"config_hash": ..., "seed": ..., "corpus": ..., ...},
     "conditions": [{"id": "reference", "role": "hidden_reference", "kind": "recording",
                     "label": "Recording", "provenance": {...}}, ...],
     "items": [{"id": "LJ001-0007", "text": ..., "loudness_lufs": -23.0,
                "stimuli": {"reference": {"file": "<20 hex>.wav", "sha256": ..., "n_samples": ...,
                                          "duration_s": ...}, ...}}, ...]}

File names are the first 20 hex digits of the file's sha256: they reveal neither condition nor
role (listeners can read the page source), and identical names mean identical audio.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jsonschema

from synthesis.errors import ListeningSetError

FORMAT = "prosody-mushra/listening-set"
FORMAT_VERSION = 1
ROLES = ("hidden_reference", "anchor", "system")
MAX_STIMULI_PER_PAGE = 12  # ITU-R BS.1534-3: at most 12 stimuli (incl. hidden reference and anchors)

_ID = {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"}
_FILE = {"type": "string", "pattern": r"^[0-9a-f]{20}\.wav$"}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["format", "format_version", "name", "sample_rate", "loudness", "conditions", "items"],
    "properties": {
        "format": {"const": FORMAT},
        "format_version": {"const": FORMAT_VERSION},
        "name": {"type": "string", "minLength": 1},
        "created_with": {"type": "string"},
        "sample_rate": {"type": "integer", "minimum": 8000, "maximum": 192000},
        "loudness": {
            "type": "object",
            "required": ["standard", "target_lufs", "peak_limit_dbtp"],
            "properties": {
                "standard": {"type": "string"},
                "target_lufs": {"type": "number"},
                "peak_limit_dbtp": {"type": "number", "maximum": 0},
            },
        },
        "trim": {"type": "object"},
        "build": {"type": "object"},
        "conditions": {
            "type": "array",
            "minItems": 2,
            "items": {
                "type": "object",
                "required": ["id", "role", "kind"],
                "properties": {
                    "id": _ID,
                    "role": {"enum": list(ROLES)},
                    "kind": {"type": "string"},
                    "label": {"type": "string"},
                    "provenance": {"type": "object"},
                },
                "additionalProperties": False,
            },
        },
        "items": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["id", "text", "stimuli"],
                "properties": {
                    "id": _ID,
                    "text": {"type": "string"},
                    "loudness_lufs": {"type": "number"},
                    "stimuli": {
                        "type": "object",
                        "minProperties": 2,
                        "additionalProperties": {
                            "type": "object",
                            "required": ["file", "sha256", "n_samples", "duration_s"],
                            "properties": {
                                "file": _FILE,
                                "sha256": {"type": "string", "pattern": r"^[0-9a-f]{64}$"},
                                "n_samples": {"type": "integer", "minimum": 1},
                                "duration_s": {"type": "number", "exclusiveMinimum": 0},
                            },
                            "additionalProperties": False,
                        },
                    },
                },
                "additionalProperties": False,
            },
        },
    },
}


@dataclass(frozen=True)
class Condition:
    id: str
    role: str
    kind: str
    label: str = ""
    provenance: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"id": self.id, "role": self.role, "kind": self.kind, "label": self.label or self.id,
                "provenance": self.provenance}


@dataclass(frozen=True)
class Stimulus:
    file: str
    sha256: str
    n_samples: int
    duration_s: float

    def to_json(self) -> dict:
        return {"file": self.file, "sha256": self.sha256, "n_samples": self.n_samples,
                "duration_s": round(self.duration_s, 6)}


@dataclass(frozen=True)
class Item:
    id: str
    text: str
    stimuli: dict[str, Stimulus]
    loudness_lufs: float | None = None

    def to_json(self) -> dict:
        out: dict[str, Any] = {"id": self.id, "text": self.text}
        if self.loudness_lufs is not None:
            out["loudness_lufs"] = round(self.loudness_lufs, 3)
        out["stimuli"] = {cid: s.to_json() for cid, s in self.stimuli.items()}
        return out


@dataclass(frozen=True)
class Manifest:
    name: str
    sample_rate: int
    target_lufs: float
    peak_limit_dbtp: float
    conditions: tuple[Condition, ...]
    items: tuple[Item, ...]
    created_with: str = ""
    trim: dict = field(default_factory=dict)
    build: dict = field(default_factory=dict)
    loudness_standard: str = "ITU-R BS.1770-4"

    @property
    def reference(self) -> Condition:
        return next(c for c in self.conditions if c.role == "hidden_reference")

    def condition(self, cid: str) -> Condition:
        for c in self.conditions:
            if c.id == cid:
                return c
        raise KeyError(cid)

    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "created_with": self.created_with,
            "sample_rate": self.sample_rate,
            "loudness": {"standard": self.loudness_standard, "target_lufs": self.target_lufs,
                         "peak_limit_dbtp": self.peak_limit_dbtp},
            "trim": self.trim,
            "build": self.build,
            "conditions": [c.to_json() for c in self.conditions],
            "items": [i.to_json() for i in self.items],
        }


def parse_manifest(data: Any, where: str = "manifest.json") -> Manifest:
    """Validate a decoded manifest against the schema and its cross-references.

    Raises:
        ListeningSetError: naming ``where`` and the first problem (JSON path included).
    """
    if isinstance(data, dict) and data.get("format") == FORMAT and data.get("format_version") != FORMAT_VERSION:
        raise ListeningSetError(f"{where}: unknown manifest format_version {data.get('format_version')!r} "
                                f"(this version reads {FORMAT_VERSION})")
    validator = jsonschema.Draft202012Validator(SCHEMA)
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        path = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        raise ListeningSetError(f"{where}: {path}: {err.message}")
    conditions = tuple(Condition(c["id"], c["role"], c["kind"], c.get("label", ""), c.get("provenance", {}))
                       for c in data["conditions"])
    ids = [c.id for c in conditions]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ListeningSetError(f"{where}: conditions: duplicate condition id {dup[0]!r}")
    refs = [c.id for c in conditions if c.role == "hidden_reference"]
    if len(refs) != 1:
        raise ListeningSetError(f"{where}: conditions: expected exactly one hidden_reference, found {len(refs)}")
    if len(conditions) > MAX_STIMULI_PER_PAGE:
        raise ListeningSetError(f"{where}: conditions: {len(conditions)} conditions, BS.1534-3 allows at most "
                                f"{MAX_STIMULI_PER_PAGE} stimuli on one page")
    items = []
    seen_items: set[str] = set()
    seen_files: dict[str, str] = {}
    for n, raw in enumerate(data["items"]):
        if raw["id"] in seen_items:
            raise ListeningSetError(f"{where}: items/{n}: duplicate item id {raw['id']!r}")
        seen_items.add(raw["id"])
        missing = [c for c in ids if c not in raw["stimuli"]]
        extra = [c for c in raw["stimuli"] if c not in ids]
        if missing or extra:
            what = f"no stimulus for condition {missing[0]!r}" if missing else f"stimulus for unknown condition {extra[0]!r}"
            raise ListeningSetError(f"{where}: items/{n} ({raw['id']}): {what}")
        stimuli = {}
        for cid, s in raw["stimuli"].items():
            if not s["sha256"].startswith(s["file"][:-4]):
                raise ListeningSetError(f"{where}: items/{n}/stimuli/{cid}: file name does not match its sha256")
            if s["file"] in seen_files:
                raise ListeningSetError(f"{where}: items/{n}/stimuli/{cid}: file {s['file']} is also used by "
                                        f"{seen_files[s['file']]}")
            seen_files[s["file"]] = f"{raw['id']}/{cid}"
            stimuli[cid] = Stimulus(s["file"], s["sha256"], int(s["n_samples"]), float(s["duration_s"]))
        items.append(Item(raw["id"], raw["text"], stimuli, raw.get("loudness_lufs")))
    loud = data["loudness"]
    return Manifest(
        name=data["name"], sample_rate=int(data["sample_rate"]), target_lufs=float(loud["target_lufs"]),
        peak_limit_dbtp=float(loud["peak_limit_dbtp"]), conditions=conditions, items=tuple(items),
        created_with=data.get("created_with", ""), trim=data.get("trim", {}), build=data.get("build", {}),
        loudness_standard=loud["standard"],
    )
