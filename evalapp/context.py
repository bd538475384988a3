"""What a serving process knows: settings (from the environment), the verified listening set,
the test design, the database engine and the stored test.

``evalapp serve`` puts :class:`ServeSettings` into the environment variable ``EVALAPP_SETTINGS``
(JSON) and the admin token into ``EVALAPP_ADMIN_TOKEN`` before Streamlit starts; the Streamlit
script and the HTTP routes read them back with :func:`shared_context`, which builds the context
once per process.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from evalapp.config import TestConfig, TestDesign, fit_to_set, load_test_config
from evalapp.errors import EvalappError
from evalapp.storage import make_engine, migrate
from evalapp.storage.repository import TestInfo, ensure_test

ENV_SETTINGS = "EVALAPP_SETTINGS"
ENV_ADMIN_TOKEN = "EVALAPP_ADMIN_TOKEN"


@dataclass(frozen=True)
class ServeSettings:
    set_dir: str
    db_url: str
    config_path: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_env(cls) -> ServeSettings:
        raw = os.environ.get(ENV_SETTINGS)
        if not raw:
            raise EvalappError(f"{ENV_SETTINGS} is not set: start the app with `evalapp serve`")
        return cls(**json.loads(raw))


def load_listening_set(set_dir: str | Path, verify: bool = True):
    """Read a listening set and (by default) verify every file against its checksum.

    Raises:
        EvalappError: naming the first problem's file, and how many more problems there are.
    """
    from synthesis.errors import SynthesisError
    from synthesis.listening_set import read_set, verify_set

    try:
        manifest = read_set(set_dir)
    except SynthesisError as exc:
        raise EvalappError(str(exc)) from None
    if verify:
        problems = verify_set(set_dir, manifest)
        if problems:
            more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
            raise EvalappError(f"listening set {set_dir} fails validation: {problems[0]}{more}")
    return manifest


@dataclass(frozen=True)
class AppContext:
    settings: ServeSettings
    set_dir: Path
    manifest: object
    config: TestConfig
    design: TestDesign
    engine: object
    test: TestInfo

    def stimulus_path(self, item_id: str, condition_id: str) -> Path:
        """The file of one stimulus. Names come from the validated manifest (20 hex digits + .wav),
        never from a URL, so nothing outside the set folder can be named."""
        item = next(i for i in self.manifest.items if i.id == item_id)
        return self.set_dir / item.stimuli[condition_id].file

    def item_text(self, item_id: str) -> str:
        return next(i.text for i in self.manifest.items if i.id == item_id)


def prepare(settings: ServeSettings) -> AppContext:
    """Verify the set, check the config against it, reach and migrate the database, store the test.

    Raises:
        EvalappError: the first thing that is wrong, in one line.
    """
    set_dir = Path(settings.set_dir).expanduser().resolve()
    manifest = load_listening_set(set_dir)
    config = load_test_config(settings.config_path)
    design = fit_to_set(config, manifest)
    engine = make_engine(settings.db_url)
    migrate(engine)
    test = ensure_test(engine, design, manifest, config)
    return AppContext(settings, set_dir, manifest, config, design, engine, test)


@lru_cache(maxsize=4)
def shared_context(settings_json: str) -> AppContext:
    """One context per process and settings (the Streamlit script and the HTTP routes share it)."""
    return prepare(ServeSettings(**json.loads(settings_json)))
