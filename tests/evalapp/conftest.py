"""Fixtures for the evalapp tests: a tiny real listening set, databases (SQLite and a throwaway
PostgreSQL cluster), real `evalapp serve` processes and Debian's Chromium through Playwright."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--autoplay-policy=no-user-gesture-required"]
ADMIN_TOKEN = "test-admin-token-0123456789"
TINY_SET_TOML = """
name = "tiny"
n_items = 3
seed = 7
subset = "test"
workers = 1
[[conditions]]
id = "reference"
kind = "recording"
[[conditions]]
id = "anchor35"
kind = "lowpass_anchor"
cutoff_hz = 3500
[[conditions]]
id = "anchor70"
kind = "lowpass_anchor"
cutoff_hz = 7000
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def tiny_set(tmp_path_factory) -> Path:
    """A real listening set: 3 test-split items x (recording, 3.5 kHz and 7 kHz anchors)."""
    import tomllib

    from synthesis.listening_set.builder import build_set
    from synthesis.listening_set.config import parse_set_config

    out = tmp_path_factory.mktemp("sets") / "tiny"
    build_set(parse_set_config(tomllib.loads(TINY_SET_TOML), "tiny.toml"), out, progress=False)
    return out


@pytest.fixture
def set_copy(tiny_set, tmp_path) -> Path:
    """A private copy of the tiny set that a test may break."""
    return Path(shutil.copytree(tiny_set, tmp_path / "set"))


# ------------------------------------------------------------------------------------- PostgreSQL
def _pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


@pytest.fixture(scope="session")
def pg_server():
    """A throwaway PostgreSQL cluster in a temp folder on a free port; yields its admin URL base."""
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL binaries not found under /usr/lib/postgresql/*/bin "
                    "(apt-get install postgresql; scripts/install.sh does this in CI)")
    # Not under pytest's tmp folder: that one is private to the current user (mode 0700), and
    # the cluster runs as the postgres user when the tests run as root.
    root = Path(tempfile.mkdtemp(prefix="evalapp-pg-"))
    data = root / "data"
    port = free_port()
    as_root = os.geteuid() == 0
    user = "postgres" if as_root else None
    if as_root:  # PostgreSQL refuses to run as root: hand the folder to the postgres user
        shutil.chown(root, "postgres", "postgres")
        os.chmod(root, 0o700)

    def run(*cmd):
        full = (["runuser", "-u", "postgres", "--"] if as_root else []) + [str(c) for c in cmd]
        done = subprocess.run(full, capture_output=True, text=True, check=False)
        if done.returncode:
            pytest.fail(f"{Path(str(cmd[0])).name} failed: {done.stderr.strip() or done.stdout.strip()}")
        return done

    run(bindir / "initdb", "-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
    run(bindir / "pg_ctl", "-D", data, "-l", root / "log.txt", "-w", "-t", "60", "-o",
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300", "start")
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run((["runuser", "-u", "postgres", "--"] if user else [])
                       + [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, check=False)
        shutil.rmtree(root, ignore_errors=True)


_db_counter = iter(range(10_000))


def new_pg_database(base: str) -> str:
    import psycopg

    name = f"evalapp_{os.getpid()}_{next(_db_counter)}"
    with psycopg.connect(base.replace("postgresql+psycopg", "postgresql") + "/postgres", autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    return f"{base}/{name}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path) -> str:
    """A fresh, empty database: a SQLite file, or a new database in the PostgreSQL cluster."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ratings.db'}"
    return new_pg_database(request.getfixturevalue("pg_server"))


# ------------------------------------------------------------------------------------- servers
class Server:
    def __init__(self, set_dir: Path, db: str, config: Path | None = None, log: Path | None = None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "evalapp", "serve", "--set", str(set_dir), "--db", db,
               "--port", str(self.port), "--address", "127.0.0.1"]
        if config:
            cmd += ["--config", str(config)]
        env = dict(os.environ, EVALAPP_ADMIN_TOKEN=ADMIN_TOKEN)
        self.log = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"evalapp serve exited with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError("evalapp serve did not come up within 60 s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log is not subprocess.DEVNULL:
            self.log.close()


@pytest.fixture
def start_server(tmp_path):
    """Factory: start ``evalapp serve`` processes; all are stopped after the test."""
    started: list[Server] = []

    def start(set_dir: Path, db: str, config: Path | None = None) -> Server:
        server = Server(set_dir, db, config, log=tmp_path / f"serve-{len(started)}.log")
        started.append(server)
        return server

    yield start
    for s in started:
        s.stop()


# ------------------------------------------------------------------------------------- browser
@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not found (apt-get install chromium; scripts/install.sh does this in CI)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
