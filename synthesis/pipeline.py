"""One pipeline from corpus to listening set: prepare -> train -> evaluate -> build-set.

``synthesis pipeline --config configs/demo.toml`` runs the stages of DESIGN.md in order and
skips what is up to date. Every stage records the hash of its inputs in a stamp file
(``WORK/stamps/<stage>.json``) when it finishes; a stage whose inputs hash matches its stamp
and whose outputs are still there is skipped. Training resumes from its own ``last.pt``.

What each stage does:

* **train**, per system: a checkpoint that exists is reused when its architecture (the
  ``[model]`` section of the system's stage-1 config) matches; training settings such as
  time limits are not compared, since checkpoints are trained with command-line overrides.
  A system is trained only when asked (``--train``) or when its ``train`` policy allows it:
  ``never``; ``missing`` (no checkpoint yet); ``stale`` (missing, or another architecture).
  A system with no checkpoint that is not trained is left out of the set, with a note.
* **prepare** (the feature cache) runs only when a system is trained: the TTS systems
  synthesise from text, so building the demo set needs no cache.
* **evaluate** (``synthesis evaluate`` of every available checkpoint) runs when enabled.
* **build-set**: hidden reference, the BS.1534-3 anchors and every available system.

The command line (``synthesis.commands.pipeline``) then optionally serves the set.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
import tomllib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from synthesis.errors import ConfigError, SynthesisError

REPO_ROOT = Path(__file__).resolve().parents[1]
STAMP_FORMAT_VERSION = 1
TRAIN_POLICIES = ("never", "missing", "stale")
#: systems with a stage 2: the module with ``train_from_args`` and ``set_checkpoint_inference``
STAGE2_MODULES = {"camp": "synthesis.training.camp_stage2", "kathaka": "synthesis.training.kathaka_stage2",
                  # baseline and fs2: the duration pass (the committed checkpoints have it)
                  "baseline": "synthesis.training.duration_stage", "fs2": "synthesis.training.duration_stage"}
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


# ---------------------------------------------------------------------------------------------
# Config


@dataclass(frozen=True)
class SystemSpec:
    """A TTS system of the pipeline: where its checkpoint lives and how to train it."""

    id: str
    checkpoint: str
    stage1: str
    label: str = ""
    stage2: str = ""
    sampler: str = ""            # kathaka stage 2: bert | graph | both
    mode: str = ""               # inference mode in the set (kathaka mean/prior/sample, camp predicted)
    train: str = "never"         # never | missing | stale
    max_steps: int = 0           # stage-1 overrides (0: the config's)
    max_minutes: float = -1.0
    stage2_max_steps: int = 0
    stage2_max_minutes: float = -1.0


@dataclass(frozen=True)
class PipelineConfig:
    name: str
    work: str
    systems: tuple[SystemSpec, ...]
    corpus: str = ""
    split: str = ""
    cache: str = "cache/ljspeech-mini"
    prepare_workers: int = 2
    evaluate: bool = False
    evaluate_split: str = "test"
    evaluate_limit: int = 0
    evaluate_metrics: tuple[str, ...] = ()
    evaluate_cache: str = ""
    set_out: str = "sets/demo"
    set_name: str = "demo"
    set_n_items: int = 12
    set_seed: int = 1234
    set_subset: str = "test"
    set_items: tuple[str, ...] = ()
    set_anchors_hz: tuple[float, ...] = (3500.0, 7000.0)
    set_workers: int = 2
    serve_db: str = ""                # empty: one SQLite file per distinct set (``ratings_db``)
    serve_port: int = 8501
    source: str = "<config>"


_TOP = {"name", "work", "corpus", "split", "cache", "prepare_workers", "systems", "evaluate", "set", "serve"}
_SYSTEM_KEYS = {f for f in SystemSpec.__dataclass_fields__}
_EVALUATE_KEYS = {"enabled", "split", "limit", "metrics", "cache"}
_SET_KEYS = {"out", "name", "n_items", "seed", "subset", "items", "anchors_hz", "workers"}
_SERVE_KEYS = {"db", "port"}


def _path(value: str) -> str:
    """Relative paths in a pipeline config are relative to the repository root."""
    return str(REPO_ROOT / value) if value and not Path(value).is_absolute() else value


def _sqlite_url(url: str) -> str:
    """A relative SQLite path is relative to the repository root, like every path here."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
        return prefix + _path(url[len(prefix):])
    return url


def show(path: str | Path) -> str:
    """A path as the user would type it: relative to the working folder when inside it."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def show_url(url: str) -> str:
    """A database URL for display: a SQLite path shortened like ``show``."""
    prefix = "sqlite:///"
    return prefix + show(url[len(prefix):]) if url.startswith(prefix) else url


def _typed(table: dict, key: str, kind, default, where: str):
    if key not in table:
        return default
    value = table[key]
    bad_bool = isinstance(value, bool) and kind is not bool
    if bad_bool or not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ConfigError(f"{where}: '{key}' must be {names}, got {value!r}")
    return value


def _check_keys(table: dict, known: set[str], where: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown setting {unknown[0]!r} (known: {', '.join(sorted(known))})")


def parse_pipeline_config(data: dict, source: str = "<config>") -> PipelineConfig:
    _check_keys(data, _TOP, source)
    systems = []
    raw_systems = _typed(data, "systems", list, [], source)
    for n, raw in enumerate(raw_systems):
        where = f"{source}: systems[{n}]"
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: must be a table")
        _check_keys(raw, _SYSTEM_KEYS, where)
        sid = _typed(raw, "id", str, "", where)
        if not _ID.fullmatch(sid):
            raise ConfigError(f"{where}: id {sid!r} must be letters, digits, '_', '-', '.'")
        for key in ("checkpoint", "stage1"):
            if not _typed(raw, key, str, "", where):
                raise ConfigError(f"{where}: needs {key} = \"path\"")
        policy = _typed(raw, "train", str, "never", where)
        if policy not in TRAIN_POLICIES:
            raise ConfigError(f"{where}: train must be one of {', '.join(TRAIN_POLICIES)}, got {policy!r}")
        spec = SystemSpec(
            id=sid, checkpoint=_path(raw["checkpoint"]), stage1=_path(raw["stage1"]),
            label=_typed(raw, "label", str, sid, where), stage2=_path(_typed(raw, "stage2", str, "", where)),
            sampler=_typed(raw, "sampler", str, "", where), mode=_typed(raw, "mode", str, "", where), train=policy,
            max_steps=_typed(raw, "max_steps", int, 0, where),
            max_minutes=float(_typed(raw, "max_minutes", (int, float), -1.0, where)),
            stage2_max_steps=_typed(raw, "stage2_max_steps", int, 0, where),
            stage2_max_minutes=float(_typed(raw, "stage2_max_minutes", (int, float), -1.0, where)))
        systems.append(spec)
    ids = [s.id for s in systems]
    dups = sorted({i for i in ids if ids.count(i) > 1})
    if dups:
        raise ConfigError(f"{source}: system id {dups[0]!r} appears twice")
    if {"reference", "anchor35", "anchor70"} & set(ids):
        raise ConfigError(f"{source}: system ids 'reference', 'anchor35', 'anchor70' are taken by the set")
    ev = _typed(data, "evaluate", dict, {}, source)
    _check_keys(ev, _EVALUATE_KEYS, f"{source}: [evaluate]")
    st = _typed(data, "set", dict, {}, source)
    _check_keys(st, _SET_KEYS, f"{source}: [set]")
    sv = _typed(data, "serve", dict, {}, source)
    _check_keys(sv, _SERVE_KEYS, f"{source}: [serve]")
    metrics = _typed(ev, "metrics", list, [], f"{source}: [evaluate]")
    if metrics:
        from synthesis.evaluation.runner import check_metric_groups

        try:
            check_metric_groups(metrics)
        except SynthesisError as exc:
            raise ConfigError(f"{source}: [evaluate] {exc}") from None
    items = _typed(st, "items", list, [], f"{source}: [set]")
    anchors = _typed(st, "anchors_hz", list, [3500, 7000], f"{source}: [set]")
    if not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in anchors):
        raise ConfigError(f"{source}: [set] anchors_hz must be a list of numbers (Hz)")
    subset = _typed(st, "subset", str, "test", f"{source}: [set]")
    if subset not in ("train", "validation", "test"):
        raise ConfigError(f"{source}: [set] subset must be train, validation or test, got {subset!r}")
    if _typed(st, "n_items", int, 12, f"{source}: [set]") < 1:
        raise ConfigError(f"{source}: [set] n_items must be at least 1")
    name = _typed(data, "name", str, Path(source).stem or "pipeline", source)
    set_out = _path(_typed(st, "out", str, f"sets/{name}", f"{source}: [set]"))
    port = _typed(sv, "port", int, 8501, f"{source}: [serve]")
    if not 1 <= port <= 65535:
        raise ConfigError(f"{source}: [serve] port must be 1..65535, got {port}")
    return PipelineConfig(
        name=name, work=_path(_typed(data, "work", str, f"runs/pipeline/{name}", source)), systems=tuple(systems),
        corpus=_path(_typed(data, "corpus", str, "", source)), split=_path(_typed(data, "split", str, "", source)),
        cache=_path(_typed(data, "cache", str, "cache/ljspeech-mini", source)),
        prepare_workers=_typed(data, "prepare_workers", int, 2, source),
        evaluate=_typed(ev, "enabled", bool, False, f"{source}: [evaluate]"),
        evaluate_split=_typed(ev, "split", str, "test", f"{source}: [evaluate]"),
        evaluate_limit=_typed(ev, "limit", int, 0, f"{source}: [evaluate]"),
        evaluate_metrics=tuple(metrics), evaluate_cache=_path(_typed(ev, "cache", str, "", f"{source}: [evaluate]")),
        set_out=set_out,
        set_name=_typed(st, "name", str, name, f"{source}: [set]"),
        set_n_items=_typed(st, "n_items", int, 12, f"{source}: [set]"),
        set_seed=_typed(st, "seed", int, 1234, f"{source}: [set]"),
        set_subset=subset, set_items=tuple(items),
        set_anchors_hz=tuple(float(a) for a in anchors),
        set_workers=_typed(st, "workers", int, 2, f"{source}: [set]"),
        serve_db=_sqlite_url(_typed(sv, "db", str, "", f"{source}: [serve]")),
        serve_port=port, source=source)


def load_pipeline_config(path: str | Path) -> PipelineConfig:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file does not exist")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML ({exc})") from None
    return parse_pipeline_config(data, str(path))


# ---------------------------------------------------------------------------------------------
# Stamps


def inputs_hash(inputs: dict) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()[:16]


class Stamps:
    """``WORK/stamps/<stage>.json``: the inputs hash a stage last finished with."""

    def __init__(self, work: Path):
        self.dir = Path(work) / "stamps"

    def path(self, stage: str) -> Path:
        return self.dir / f"{stage}.json"

    def read(self, stage: str) -> dict | None:
        try:
            data = json.loads(self.path(stage).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and data.get("format_version") == STAMP_FORMAT_VERSION else None

    def up_to_date(self, stage: str, digest: str) -> bool:
        stamp = self.read(stage)
        return bool(stamp) and stamp.get("inputs_hash") == digest

    def write(self, stage: str, digest: str, inputs: dict, seconds: float, outputs: dict | None = None) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        data = {"format_version": STAMP_FORMAT_VERSION, "stage": stage, "inputs_hash": digest, "inputs": inputs,
                "outputs": outputs or {}, "seconds": round(seconds, 2),
                "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        fd, tmp = tempfile.mkstemp(prefix=f".{stage}.", suffix=".tmp", dir=self.dir)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, default=str)
        os.replace(tmp, self.path(stage))

    def clear(self, stage: str) -> None:
        self.path(stage).unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------
# Checkpoints: reuse or train


def _plain(obj):
    return json.loads(json.dumps(obj, default=str))


def architecture_differences(expected: dict, actual: dict, prefix: str = "model") -> list[str]:
    """Settings of ``expected`` (a config's ``[model]``) that ``actual`` (a checkpoint's) lacks
    or holds with another value. Keys only the checkpoint has (stage-2 additions such as a
    predictor or an inference mode) are not differences."""
    expected, actual = _plain(expected), _plain(actual)
    out = []
    for key, value in expected.items():
        where = f"{prefix}.{key}"
        if key not in actual:
            out.append(f"{where}: {value!r} in the config, absent in the checkpoint")
        elif isinstance(value, dict) and isinstance(actual[key], dict):
            out.extend(architecture_differences(value, actual[key], where))
        elif value != actual[key]:
            out.append(f"{where}: {value!r} in the config, {actual[key]!r} in the checkpoint")
    return out


@dataclass
class SystemStatus:
    spec: SystemSpec
    state: str                       # "reuse", "stale", "missing"
    differences: list[str] = field(default_factory=list)
    will_train: bool = False
    available: bool = False          # a checkpoint exists after the train stage
    note: str = ""


def inspect_system(spec: SystemSpec, train_requested: bool) -> SystemStatus:
    """Whether the system's checkpoint can be reused, and whether it will be trained."""
    from synthesis.models.backbone import with_defaults
    from synthesis.training.checkpoint import CheckpointError, load_checkpoint
    from synthesis.training.config import load_config

    cfg = load_config(spec.stage1)
    if spec.stage2 and cfg.model.system not in STAGE2_MODULES:
        raise ConfigError(f"{spec.stage1}: system {cfg.model.system!r} has no stage 2, but system {spec.id!r} "
                          f"names stage2 = {spec.stage2!r}")
    if spec.mode and cfg.model.system not in ("camp", "kathaka"):
        raise ConfigError(f"system {spec.id!r}: mode = {spec.mode!r}, but {cfg.model.system} has no inference modes")
    if spec.stage2 and not Path(spec.stage2).is_file():
        raise ConfigError(f"{spec.stage2}: config file does not exist (system {spec.id!r})")
    path = Path(spec.checkpoint)
    if not path.is_file():
        status = SystemStatus(spec, "missing")
    else:
        try:
            ckpt = load_checkpoint(path)
        except CheckpointError as exc:
            raise ConfigError(f"system {spec.id!r}: {exc}") from None
        diffs = architecture_differences(cfg.model.to_dict(), with_defaults(ckpt.get("config", {}).get("model", {})))
        status = SystemStatus(spec, "stale" if diffs else "reuse", diffs)
    status.will_train = train_requested or (spec.train == "missing" and status.state == "missing") or (
        spec.train == "stale" and status.state in ("missing", "stale"))
    return status


def recipe(spec: SystemSpec, cache_hashes: dict) -> dict:
    """Everything that decides what training produces (the train stage's inputs)."""
    files = {k: Path(p).read_text(encoding="utf-8") for k, p in (("stage1", spec.stage1), ("stage2", spec.stage2))
             if p}
    return {"system": asdict(spec), "configs": files, "cache": cache_hashes}


def stage2_config(system: str, spec: SystemSpec, stage1: Path, cache: Path, split: str = ""):
    """The stage-2 config of ``spec`` with the pipeline's stage-1 checkpoint, cache, split and
    overrides filled in (Kathaka keeps them in ``[stage2]``, CAMP in ``[train]``)."""
    import importlib

    cfg = importlib.import_module(STAGE2_MODULES[system]).load_stage2_config(spec.stage2)
    settings = cfg.stage2 if system == "kathaka" else cfg.train
    if system == "kathaka":
        settings.stage1 = str(stage1)
        if spec.sampler:
            settings.sampler = spec.sampler
    else:
        cfg.stage1 = str(stage1)
    settings.cache = str(cache)
    if split:
        settings.split = split
    if spec.stage2_max_steps:
        settings.max_steps = spec.stage2_max_steps
    if spec.stage2_max_minutes >= 0:
        settings.max_minutes = spec.stage2_max_minutes
    return cfg


def train_system(spec: SystemSpec, cache: Path, work: Path, progress: bool, split: str = "") -> Path:
    """Stage 1 (and stage 2), then export the checkpoint to ``spec.checkpoint``'s folder.

    ``split``: the split file (stage 1; empty: the committed split of the cache's corpus)."""
    import importlib

    from synthesis.training.config import load_config
    from synthesis.training.export import export_checkpoint
    from synthesis.training.loop import train

    runs = work / "runs" / spec.id
    cfg = load_config(spec.stage1)
    cfg.train.cache = str(cache)
    if split:
        cfg.train.split = split
    if spec.max_steps:
        cfg.train.max_steps = spec.max_steps
    if spec.max_minutes >= 0:
        cfg.train.max_minutes = spec.max_minutes
    train(cfg, runs / "stage1", progress=progress, resume=True)
    final_run = runs / "stage1"
    module = importlib.import_module(STAGE2_MODULES[cfg.model.system]) if cfg.model.system in STAGE2_MODULES else None
    if spec.stage2 and module is not None:
        stage1_best = runs / "stage1" / ("best.pt" if (runs / "stage1" / "best.pt").is_file() else "last.pt")
        cfg2 = stage2_config(cfg.model.system, spec, stage1_best, cache, split)
        module.train_stage2(cfg2, runs / "stage2", progress=progress, resume=True)
        final_run = runs / "stage2"
    which = "best" if (final_run / "best.pt").is_file() else "last"
    out_dir = Path(spec.checkpoint).parent
    info = export_checkpoint(final_run, out_dir, which=which)
    exported = Path(info["checkpoint"])
    if exported != Path(spec.checkpoint):
        os.replace(exported, spec.checkpoint)
    if spec.mode and module is not None:
        module.set_checkpoint_inference(spec.checkpoint, spec.mode, None)
    return Path(spec.checkpoint)


# ---------------------------------------------------------------------------------------------
# The pipeline


@dataclass
class PipelineResult:
    config: PipelineConfig
    systems: list[SystemStatus]
    set_dir: Path
    stages: dict[str, str] = field(default_factory=dict)     # stage -> "ran", "up to date", "skipped", ...
    seconds: float = 0.0
    set_digest: str = ""      # the build-set inputs hash: changes whenever the set's content may

    @property
    def ratings_db(self) -> str:
        """Where the ratings of this set go: the config's ``[serve] db``, else a SQLite file
        beside the set named by the set's digest (``sets/demo-<digest>.db``).

        evalapp refuses to serve a test name that a database already holds for another set, and
        ratings of different sets must not mix: so a rebuilt set (a new checkpoint) gets a new
        file, and serving the same set again resumes its own."""
        if self.config.serve_db:
            return self.config.serve_db
        return f"sqlite:///{self.set_dir.parent / f'{self.set_dir.name}-{self.set_digest[:8]}.db'}"


def file_digest(path: str | Path) -> str:
    from synthesis.training.checkpoint import file_hash

    return file_hash(path)


def set_config_for(config: PipelineConfig, systems: list[SystemStatus]):
    """The ``SetConfig`` of the pipeline's listening set (available systems only)."""
    from synthesis.listening_set.config import ConditionSpec, SetConfig

    conditions = [ConditionSpec("reference", "recording", "Recording (hidden reference)")]
    for hz in config.set_anchors_hz:
        conditions.append(ConditionSpec(f"anchor{round(hz / 100):02d}", "lowpass_anchor",
                                        f"Anchor ({hz / 1000:g} kHz low-pass)", {"cutoff_hz": hz}))
    for s in systems:
        if s.available:
            params = {"checkpoint": s.spec.checkpoint}
            if s.spec.mode:
                params["mode"] = s.spec.mode
            conditions.append(ConditionSpec(s.spec.id, "tts", s.spec.label, params))
    return SetConfig(name=config.set_name, conditions=tuple(conditions), n_items=config.set_n_items,
                     seed=config.set_seed, subset=config.set_subset, items=config.set_items, corpus=config.corpus,
                     split=config.split, workers=config.set_workers, source=config.source)


def check_set_early(config: PipelineConfig) -> None:
    """Refuse a set config that build-set would refuse (anchors, items, split), before any
    stage runs: a typo must not surface after hours of training."""
    from synthesis.corpus import default_corpus_path, default_split_path, load_corpus, load_split
    from synthesis.listening_set.builder import make_sources, select_items

    set_config = set_config_for(config, [])
    make_sources(set_config)  # the reference and anchors (systems are checked when the set is built)
    root = Path(config.corpus) if config.corpus else default_corpus_path()
    corpus = load_corpus(root)
    split = load_split(Path(config.split) if config.split else default_split_path(root), corpus)
    select_items(set_config, split.subset(set_config.subset), {c.id for c in corpus.clips})


def run_pipeline(config: PipelineConfig, *, train: tuple[str, ...] = (), evaluate: bool | None = None,
                 force: bool = False, progress: bool = True, say: Callable[[str], None] = print) -> PipelineResult:
    """Run the stages, skipping those that are up to date.

    Args:
        train: system ids to train (``"all"``: every system), beyond what their policies ask.
        evaluate: override the config's ``[evaluate] enabled``.
        force: ignore the stamps of evaluate and build-set (training resumes regardless).
        say: where progress lines go.

    Raises:
        ConfigError and other SynthesisError: bad configs, checkpoints, corpus; one line each,
            before the stage that needs them changes anything.
    """
    t_start = time.perf_counter()
    work = Path(config.work)
    stamps = Stamps(work)
    known = {s.id for s in config.systems}
    unknown = [t for t in train if t != "all" and t not in known]
    if unknown:
        raise ConfigError(f"--train {unknown[0]!r}: no such system in {config.source} (systems: "
                          f"{', '.join(sorted(known)) or 'none'})")
    want = {s.id for s in config.systems} if "all" in train else set(train)
    do_evaluate = config.evaluate if evaluate is None else evaluate
    stage_names = ["prepare", "train", "evaluate", "build-set"]
    result = PipelineResult(config, [], Path(config.set_out))

    def header(n: int, text: str) -> None:
        say(f"[{n}/{len(stage_names)}] {text}")

    statuses = [inspect_system(s, s.id in want) for s in config.systems]
    result.systems = statuses
    check_set_early(config)
    say(f"pipeline '{config.name}' ({config.source}); work folder {show(work)}")
    corpus_root = Path(config.corpus) if config.corpus else None

    # 1. prepare: only when something trains
    to_train = [s for s in statuses if s.will_train]
    cache_hashes: dict = {}
    if not to_train:
        header(1, "prepare: not needed (no system is trained; the systems synthesise from text)")
        result.stages["prepare"] = "not needed"
    else:
        from synthesis.corpus import default_corpus_path, load_corpus
        from synthesis.features.acoustic import AcousticConfig
        from synthesis.text.frontend import TEXT_CONFIG_HASH

        root = corpus_root or default_corpus_path()
        corpus = load_corpus(root)
        cache_hashes = {"acoustic": AcousticConfig().hash(), "text": TEXT_CONFIG_HASH}
        inputs = {"corpus": str(Path(root).resolve()), "fingerprint": corpus.fingerprint(), "cache": config.cache,
                  **cache_hashes}
        digest = inputs_hash(inputs)
        if not force and stamps.up_to_date("prepare", digest) and (Path(config.cache) / "manifest.json").is_file():
            header(1, f"prepare: up to date ({show(config.cache)})")
            result.stages["prepare"] = "up to date"
        else:
            from synthesis.prepare import prepare

            header(1, f"prepare: feature cache {show(config.cache)} for {len(corpus.clips)} clips "
                      f"(needed to train {', '.join(s.spec.id for s in to_train)})")
            t0 = time.perf_counter()
            report = prepare(root, config.cache, workers=config.prepare_workers, progress=progress)
            if report.failures:
                raise SynthesisError(f"prepare: {len(report.failures)} clips failed (first: {report.failures[0]})")
            stamps.write("prepare", digest, inputs, time.perf_counter() - t0,
                         {"clips": report.n_clips, "computed": report.n_computed})
            say(f"      {report.n_clips} clips ({report.n_computed} computed) in {report.seconds:.0f} s")
            result.stages["prepare"] = "ran"

    # 2. train (or reuse)
    header(2, "train: " + (f"training {', '.join(s.spec.id for s in to_train)}" if to_train
                           else "reusing checkpoints (nothing to train)"))
    for s in statuses:
        spec = s.spec
        if s.will_train:
            rec = {**recipe(spec, cache_hashes), "split": config.split}
            digest = inputs_hash(rec)
            stamp = stamps.read(f"train-{spec.id}")
            if (stamp and stamp.get("inputs_hash") == digest and Path(spec.checkpoint).is_file()
                    and stamp.get("outputs", {}).get("checkpoint_hash") == file_digest(spec.checkpoint)):
                say(f"      {spec.id}: up to date ({show(spec.checkpoint)} was trained by this pipeline with this recipe)")
            else:
                say(f"      {spec.id}: training stage 1{' + 2' if spec.stage2 else ''} into {show(work / 'runs' / spec.id)} "
                    "(resumes from last.pt)")
                t0 = time.perf_counter()
                path = train_system(spec, Path(config.cache), work, progress, config.split)
                stamps.write(f"train-{spec.id}", digest, rec, time.perf_counter() - t0,
                             {"checkpoint": str(path), "checkpoint_hash": file_digest(path)})
                say(f"      {spec.id}: exported {show(path)} after {(time.perf_counter() - t0) / 60:.1f} min")
            s.available = True
        elif s.state == "missing":
            s.note = (f"{spec.id}: left out: {show(spec.checkpoint)} does not exist (train it with "
                      f"`synthesis pipeline --config {config.source} --train {spec.id}`)")
            say(f"      {s.note}")
        elif s.state == "stale":
            s.available = True
            s.note = (f"{spec.id}: WARNING: {show(spec.checkpoint)} has another architecture than {show(spec.stage1)} "
                      f"({s.differences[0]}{'; ...' if len(s.differences) > 1 else ''}); using it anyway "
                      f"(retrain with --train {spec.id})")
            say(f"      {s.note}")
        else:
            s.available = True
            say(f"      {spec.id}: reusing {show(spec.checkpoint)} (architecture matches {Path(spec.stage1).name})")
    result.stages["train"] = "ran" if to_train else "reused"
    available = [s for s in statuses if s.available]
    ckpt_hashes = {s.spec.id: file_digest(s.spec.checkpoint) for s in available}

    # 3. evaluate
    if not do_evaluate:
        header(3, "evaluate: off in this config (enable with --evaluate; Whisper and DistillMOS on the "
                  "40 test clips take a while on CPU)")
        result.stages["evaluate"] = "off"
    else:
        from synthesis.evaluation.pipeline import EvaluationRequest, run_evaluation

        ev_out = work / "evaluation"
        inputs = {"checkpoints": ckpt_hashes, "split": config.evaluate_split, "limit": config.evaluate_limit,
                  "metrics": list(config.evaluate_metrics), "corpus": config.corpus}
        digest = inputs_hash(inputs)
        if not force and stamps.up_to_date("evaluate", digest) and (ev_out / "results.md").is_file():
            header(3, f"evaluate: up to date ({show(ev_out / 'results.md')})")
            result.stages["evaluate"] = "up to date"
        else:
            header(3, f"evaluate: {_count(len(available), 'checkpoint')}, recordings and copy synthesis on the "
                      f"{config.evaluate_split} split -> {show(ev_out)}")
            t0 = time.perf_counter()
            run_evaluation(EvaluationRequest(
                checkpoints=[Path(s.spec.checkpoint) for s in available], split=config.evaluate_split, out=ev_out,
                corpus=corpus_root, split_file=Path(config.split) if config.split else None,
                limit=config.evaluate_limit or None, metrics=list(config.evaluate_metrics) or None,
                cache=Path(config.evaluate_cache) if config.evaluate_cache else None, force=True, progress=progress))
            stamps.write("evaluate", digest, inputs, time.perf_counter() - t0, {"results": str(ev_out)})
            say(f"      results in {show(ev_out / 'results.md')} ({time.perf_counter() - t0:.0f} s)")
            result.stages["evaluate"] = "ran"

    # 4. build-set
    from synthesis.listening_set import read_set, verify_set
    from synthesis.listening_set.builder import build_set

    set_config = set_config_for(config, statuses)
    out = Path(config.set_out)
    inputs = {"set_config": set_config.canonical(), "checkpoints": ckpt_hashes}
    digest = inputs_hash(inputs)
    result.set_digest = digest
    n_cond = len(set_config.conditions)
    if not force and stamps.up_to_date("build-set", digest) and (out / "manifest.json").is_file() \
            and not verify_set(out):
        m = read_set(out)
        header(4, f"build-set: up to date ({show(out)}: {len(m.items)} items x {len(m.conditions)} conditions)")
        result.stages["build-set"] = "up to date"
    else:
        n_items = len(config.set_items) or config.set_n_items
        header(4, f"build-set: {show(out)}: {n_items} items x {n_cond} conditions (reference, "
                  f"{len(config.set_anchors_hz)} anchors, {_count(n_cond - 1 - len(config.set_anchors_hz), 'system')})")
        t0 = time.perf_counter()
        manifest = build_set(set_config, out, force=True, progress=progress)
        stamps.write("build-set", digest, inputs, time.perf_counter() - t0, {"set": str(out)})
        say(f"      {len(manifest.items)} items x {len(manifest.conditions)} conditions in "
            f"{time.perf_counter() - t0:.0f} s")
        result.stages["build-set"] = "ran"
    result.seconds = time.perf_counter() - t_start
    return result


def serve_argv(set_dir: str | Path, db: str, port: int, python: str) -> list[str]:
    """The ``evalapp serve`` command line for the set (the admin token goes in the environment)."""
    return [python, "-m", "evalapp", "serve", "--set", str(set_dir), "--db", db, "--port", str(port)]
