"""Load and fault benchmark of the evalapp submit path against a real `evalapp serve` process.

What it exercises (see docs/evalapp.md, "Load and fault numbers"):

* A real server: ``python -m evalapp serve`` (Streamlit's uvicorn/Starlette server with the evalapp
  routes), SQLite (WAL) or a throwaway PostgreSQL cluster.
* N simulated listeners at once (asyncio + httpx, one coroutine each). Each listener is registered
  exactly as the consent page does it (``repository.create_listener``: one transaction that stores
  the listener and its seeded presentation order), then does what the browser component does on
  every trial: GET each stimulus of the trial from ``/evalapp/audio/<token>`` (first 4 KiB via a
  Range request, so the client is not the bottleneck) and POST the ratings to
  ``/evalapp/api/submit`` with its resume token. 10 % of the listeners also replay one submit.
  Not exercised: Streamlit's websocket reruns between trials and audio decoding in a browser.
* Afterwards the database is compared with every acknowledged submit: ratings lost (acknowledged
  but absent or different) and duplicated rows must both be 0.
* ``--fault``: kill -9 the server while listeners are mid-test, restart it on the same port; the
  listeners resume at the first unfinished trial the server reports for their token and finish.
* ``--think-s S``: pacing. A listener fetches a trial's stimuli, spends a uniform random
  0.5 S-1.5 S "listening and rating", then submits; listeners arrive at uniform random times
  within the first S seconds. Real MUSHRA listeners spend 30-90 s on a trial of 4-6 stimuli, so
  S = 5 is a load 6-18 times heavier than real listeners produce. ``--think-s 0`` (every request
  back to back, all listeners in lock step) measures saturation throughput instead; latency
  then only says how long the queue is.
* The client's own CPU time is reported: on 2 cores the client shares the machine with the
  server, and when it is busy its event loop adds to the latency it measures.

Usage::

    python -m benchmarks.evalapp_load --db sqlite --listeners 200 --trials 10
    python -m benchmarks.evalapp_load --db postgres --listeners 200 --trials 10
    python -m benchmarks.evalapp_load --db sqlite --listeners 200 --trials 10 --fault
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
from pathlib import Path

import httpx

SET_TOML = """
name = "load{n}"
n_items = {n}
seed = 11
subset = "test"
workers = 2
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
ADMIN = "benchmark-admin-token-0000"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_set(n_items: int, out: Path) -> Path:
    from synthesis.listening_set.builder import build_set as build
    from synthesis.listening_set.config import parse_set_config

    if not (out / "manifest.json").is_file():
        build(parse_set_config(tomllib.loads(SET_TOML.format(n=n_items)), "load.toml"), out, progress=False)
    return out


class PostgresCluster:
    """A throwaway cluster (initdb + pg_ctl as the postgres user when run as root)."""

    def __init__(self) -> None:
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not bins:
            raise SystemExit("PostgreSQL binaries not found (apt-get install postgresql)")
        self.bin = bins[-1].parent
        self.root = Path(tempfile.mkdtemp(prefix="evalapp-bench-pg-"))
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", self.root / "data", "-A", "trust", "-U", "postgres", "--no-sync")
        self._run("pg_ctl", "-D", self.root / "data", "-l", self.root / "log", "-w", "-o",
                  f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=400", "start")
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as c:
            c.execute("CREATE DATABASE bench")
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/bench"

    def _run(self, tool, *args):
        cmd = (["runuser", "-u", "postgres", "--"] if self.as_root else []) + [str(self.bin / tool)] + [str(a) for a in args]
        subprocess.run(cmd, check=True, capture_output=True)

    def stop(self) -> None:
        self._run("pg_ctl", "-D", self.root / "data", "-m", "fast", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


class ServerProcess:
    def __init__(self, set_dir: Path, db: str, config: Path, port: int, log: Path) -> None:
        self.args = [sys.executable, "-m", "evalapp", "serve", "--set", str(set_dir), "--db", db, "--config",
                     str(config), "--port", str(port), "--address", "127.0.0.1"]
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self.proc = None

    def start(self) -> float:
        t0 = time.perf_counter()
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(self.args, env=dict(os.environ, EVALAPP_ADMIN_TOKEN=ADMIN),
                                         stdout=log, stderr=subprocess.STDOUT)
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"server exited with {self.proc.returncode}; see {self.log}")
            try:
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=1):
                    return time.perf_counter() - t0
            except OSError:
                time.sleep(0.2)

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)


def scores_for(listener_no: int, position: int, order: list[str]) -> dict:
    """Deterministic, distinct ratings per (listener, trial): checkable afterwards."""
    return {str(i): {"score": 100 if c == "reference" else (listener_no * 7 + position * 3 + i * 11) % 100,
                     "played": True, "play_count": 1 + (listener_no + i) % 3} for i, c in enumerate(order)}


class Listener:
    def __init__(self, number: int, public_id: str, token: str, plans) -> None:
        self.number = number
        self.public_id = public_id
        self.token = token
        self.plans = plans
        self.acked: dict[int, dict] = {}   # position -> ratings the server confirmed
        self.next = 0


async def run_listener(client: httpx.AsyncClient, base: str, lst: Listener, secret: str, stats: dict,
                       replay: bool, stop_event: asyncio.Event, think_s: float = 0.0) -> None:
    from evalapp.flow import REFERENCE_SLOT, stimulus_token

    rng = random.Random(1000 + lst.number)
    if think_s > 0:
        await asyncio.sleep(rng.uniform(0, think_s))  # arrivals spread over the first S seconds
    while lst.next < len(lst.plans):
        if stop_event.is_set():
            return
        plan = lst.plans[lst.next]
        slots = [REFERENCE_SLOT, *range(len(plan.order))]
        try:
            for slot in slots:
                t0 = time.perf_counter()
                r = await client.get(f"{base}/evalapp/audio/{stimulus_token(secret, lst.public_id, plan.position, slot)}",
                                     headers={"Range": "bytes=0-4095"})
                stats["audio"].append(time.perf_counter() - t0)
                if r.status_code != 206:
                    stats["audio_errors"] += 1
            if think_s > 0:
                await asyncio.sleep(rng.uniform(0.5 * think_s, 1.5 * think_s))
            ratings = scores_for(lst.number, plan.position, list(plan.order))
            body = {"position": plan.position, "time_on_page_s": 10.0, "ratings": ratings}
            for attempt in range(2 if replay and plan.position == 1 else 1):
                t0 = time.perf_counter()
                r = await client.post(f"{base}/evalapp/api/submit", json=body,
                                      headers={"Authorization": f"Bearer {lst.token}"})
                stats["submit"].append(time.perf_counter() - t0)
                if r.status_code != 200:
                    stats["submit_errors"].append(f"{r.status_code} {r.text[:120]}")
                    raise httpx.HTTPError("rejected")
                lst.acked[plan.position] = ratings
                stats["acked"] += 1
            lst.next += 1
        except httpx.HTTPError:
            if stop_event.is_set():
                return
            await asyncio.sleep(0.2)


async def drive(base: str, listeners: list[Listener], secret: str, stats: dict, kill_after: int | None,
                server: ServerProcess | None, think_s: float = 0.0) -> None:
    stop_event = asyncio.Event()
    limits = httpx.Limits(max_connections=len(listeners) + 10, max_keepalive_connections=len(listeners) + 10)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        rng = random.Random(3)
        tasks = [asyncio.create_task(run_listener(client, base, lst, secret, stats, rng.random() < 0.1,
                                                  stop_event, think_s)) for lst in listeners]
        if kill_after is not None:
            while stats["acked"] < kill_after:
                await asyncio.sleep(0.01)
            server.kill9()
            stats["killed_at_acked"] = stats["acked"]
            stop_event.set()
        await asyncio.gather(*tasks)


def check_database(engine, test_name: str, listeners: list[Listener], n_conditions: int) -> dict:
    import sqlalchemy as sa

    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT l.public_id, tr.position, r.slot, r.condition_id, r.score FROM ratings r "
            "JOIN trials tr ON tr.id = r.trial_id JOIN listeners l ON l.id = tr.listener_id "
            "JOIN tests t ON t.id = l.test_id WHERE t.name = :name"), {"name": test_name}).all()
    stored: dict[tuple, int] = {}
    duplicates = 0
    for public_id, position, slot, condition, score in rows:
        key = (public_id, position, slot)
        duplicates += key in stored
        stored[key] = score
    lost = 0
    acked_ratings = 0
    for lst in listeners:
        for position, ratings in lst.acked.items():
            for slot, r in ratings.items():
                acked_ratings += 1
                if stored.get((lst.public_id, position, int(slot))) != r["score"]:
                    lost += 1
    return {"rows": len(rows), "acked_ratings": acked_ratings, "lost": lost, "duplicates": duplicates,
            "expected_rows": sum(len(lst.plans) for lst in listeners) * n_conditions}


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--listeners", type=int, default=200)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--fault", action="store_true", help="kill -9 the server mid-test and restart it")
    parser.add_argument("--set", help="listening set with at least --trials items (default: built in /tmp)")
    parser.add_argument("--workdir", default="/tmp/evalapp-load")
    parser.add_argument("--think-s", type=float, default=5.0,
                        help="mean seconds a listener spends on a trial before submitting (0: back to back)")
    args = parser.parse_args()

    from evalapp.config import fit_to_set, load_test_config
    from evalapp.storage import make_engine
    from evalapp.storage import repository as repo
    from synthesis.listening_set import read_set

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    set_dir = Path(args.set) if args.set else build_set(args.trials, work / f"set{args.trials}")
    config = work / "load.toml"
    config.write_text(f'name = "load-{args.db}-{int(time.time())}"\ntraining_items = 0\n'
                      f'items = {json.dumps([i.id for i in read_set(set_dir).items[:args.trials]])}\n')
    cluster = None
    if args.db == "sqlite":
        db_path = work / f"load-{int(time.time())}.db"
        db = f"sqlite:///{db_path}"
    else:
        cluster = PostgresCluster()
        db = cluster.url
    port = free_port()
    server = ServerProcess(set_dir, db, config, port, work / "serve.log")
    try:
        startup = server.start()
        manifest = read_set(set_dir)
        cfg = load_test_config(config)
        design = fit_to_set(cfg, manifest)
        engine = make_engine(db)
        test = repo.get_test(engine, design.name)
        t0 = time.perf_counter()
        listeners = []
        for n in range(args.listeners):
            state, token = repo.create_listener(engine, test, design, cfg, participant_id=f"bench-{n}")
            listeners.append(Listener(n, state.public_id, token, [t.plan() for t in state.trials]))
        register_s = time.perf_counter() - t0
        stats = {"submit": [], "audio": [], "submit_errors": [], "audio_errors": 0, "acked": 0}
        total = args.listeners * args.trials
        cpu0 = server.cpu_seconds()
        client0 = time.process_time()
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        restart_s = None
        resume_ok = None
        if args.fault:
            asyncio.run(drive(server.url, listeners, test.secret, stats, total // 2, server, args.think_s))
            # Listeners resume where the server says they are: the first unfinished trial.
            restart_s = server.start()
            resume_ok = 0
            for lst in listeners:
                state = repo.find_listener(engine, test, lst.token)
                expected = {max(lst.acked) + 1 if lst.acked else 0}
                expected.add(min(expected) + 1)  # an in-flight submit may have committed unanswered
                nxt = state.next_trial.position if state.next_trial else len(lst.plans)
                resume_ok += nxt in expected
                lst.next = nxt
            mid = check_database(engine, design.name, listeners, len(design.conditions))
            print(f"after kill -9 at {stats['killed_at_acked']} acknowledged submits and restart "
                  f"({restart_s:.1f} s): acknowledged ratings {mid['acked_ratings']}, lost {mid['lost']}, "
                  f"duplicates {mid['duplicates']}; listeners resuming at the expected trial: "
                  f"{resume_ok}/{len(listeners)}")
            stats["submit_errors"].clear()
            asyncio.run(drive(server.url, listeners, test.secret, stats, None, None, args.think_s))
        else:
            asyncio.run(drive(server.url, listeners, test.secret, stats, None, None, args.think_s))
        wall = time.perf_counter() - t0
        server_cpu = server.cpu_seconds() - (0 if args.fault else cpu0)
        client_cpu = time.process_time() - client0
        load1 = os.getloadavg()[0]
        result = check_database(engine, design.name, listeners, len(design.conditions))
        finished = sum(1 for lst in listeners if (s := repo.find_listener(engine, test, lst.token)) and s.finished)
        engine.dispose()
    finally:
        server.stop()
        if cluster:
            cluster.stop()
    lines = [
        (f"db={args.db} listeners={args.listeners} trials={args.trials} conditions={len(design.conditions)} "
        f"fault={args.fault} think_s={args.think_s:g} cpus={os.cpu_count()}"),
        f"server start {startup:.1f} s; {args.listeners} listeners registered in {register_s:.1f} s",
        (f"submits acknowledged {stats['acked']} (incl. replays) in {wall:.1f} s = {stats['acked'] / wall:.0f}/s; "
        f"submit latency p50 {pct(stats['submit'], 0.5):.0f} ms, p95 {pct(stats['submit'], 0.95):.0f} ms, "
        f"max {pct(stats['submit'], 1.0):.0f} ms"),
        (f"server CPU {server_cpu:.1f} s for {stats['acked'] + len(stats['audio'])} requests = "
         f"{1000 * server_cpu / max(1, stats['acked'] + len(stats['audio'])):.1f} ms per request; client CPU "
         f"{client_cpu:.1f} s; machine load average {load0:.1f} -> {load1:.1f}"),
        (f"stimulus requests {len(stats['audio'])}: p50 {pct(stats['audio'], 0.5):.0f} ms, "
        f"p95 {pct(stats['audio'], 0.95):.0f} ms, errors {stats['audio_errors']}"),
        (f"ratings written {result['rows']} (expected {result['expected_rows']}), listeners finished "
        f"{finished}/{args.listeners}, ratings lost {result['lost']}, duplicates {result['duplicates']}, "
        f"rejected submits {len(stats['submit_errors'])}"),
    ]
    print("\n".join(lines))
    if stats["submit_errors"]:
        print("first rejections:", stats["submit_errors"][:3])
    ok = result["lost"] == 0 and result["duplicates"] == 0 and result["rows"] == result["expected_rows"]
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
