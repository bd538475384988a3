"""Start the Streamlit server (``st.App``, uvicorn) with the evalapp routes mounted beside it.

Everything that can be wrong is checked by :func:`serve` before the server starts (listening set,
config, database, admin token, port), so a bad start prints one line and never half-starts.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from evalapp.context import ENV_ADMIN_TOKEN, ENV_SETTINGS, ServeSettings, shared_context
from evalapp.errors import EvalappError

APP_SCRIPT = Path(__file__).resolve().parent / "ui" / "app.py"
MIN_ADMIN_TOKEN_CHARS = 12
STREAMLIT_SETTINGS = {
    "STREAMLIT_SERVER_HEADLESS": "true",
    "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none",
    "STREAMLIT_SERVER_RUN_ON_SAVE": "false",
    "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false",
    "STREAMLIT_CLIENT_TOOLBAR_MODE": "minimal",
    "STREAMLIT_CLIENT_SHOW_ERROR_DETAILS": "none",
    "STREAMLIT_GLOBAL_DEVELOPMENT_MODE": "false",
}


def check_admin_token(token: str | None) -> str:
    if not token:
        raise EvalappError(f"no admin token: pass --admin-token TOKEN or set {ENV_ADMIN_TOKEN} "
                           "(e.g. python -c 'import secrets; print(secrets.token_urlsafe())')")
    if len(token) < MIN_ADMIN_TOKEN_CHARS or token.strip() != token:
        raise EvalappError(f"the admin token must be at least {MIN_ADMIN_TOKEN_CHARS} characters without "
                           "surrounding spaces")
    return token


def check_port_free(address: str, port: int) -> None:
    if not 1 <= port <= 65535:
        raise EvalappError(f"--port {port}: not a TCP port")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address if address not in ("", "0.0.0.0") else "0.0.0.0", port))
        except OSError as exc:
            raise EvalappError(f"--port {port}: cannot listen on {address or '0.0.0.0'}:{port} "
                               f"({exc.strerror})") from None


def build_app(settings_json: str):
    """The ASGI app: Streamlit's routes plus the stimulus and submit routes of :mod:`evalapp.api`."""
    import streamlit as st

    from evalapp.api import make_routes

    return st.App(str(APP_SCRIPT), routes=make_routes(lambda: shared_context(settings_json)))


def serve(settings: ServeSettings, admin_token: str | None, port: int = 8501, address: str = "0.0.0.0") -> None:
    """Validate everything, then run the server until interrupted.

    Raises:
        EvalappError (or a subclass): before anything listens on the port.
    """
    token = check_admin_token(admin_token)
    check_port_free(address, port)
    settings_json = settings.to_json()
    ctx = shared_context(settings_json)  # verifies set and config, migrates, stores the test
    os.environ[ENV_SETTINGS] = settings_json
    os.environ[ENV_ADMIN_TOKEN] = token
    print(f"evalapp: serving test '{ctx.test.name}' ({len(ctx.design.items)} items x "
          f"{len(ctx.design.conditions)} conditions) on http://localhost:{port}/ "
          f"(admin page: http://localhost:{port}/admin)", flush=True)
    # Streamlit's settings through its documented environment variables; then uvicorn runs the
    # st.App (a supported way to host it). App.run() would bind its own socket without
    # TCP_NODELAY (proto 0, so asyncio leaves Nagle on), which adds ~40 ms to every request on a
    # kept-alive connection; uvicorn's own socket does not.
    for key, value in STREAMLIT_SETTINGS.items():
        os.environ[key] = value
    os.environ["STREAMLIT_SERVER_PORT"] = str(port)
    os.environ["STREAMLIT_SERVER_ADDRESS"] = address
    import logging

    import uvicorn

    logging.getLogger("uvicorn.access").disabled = True  # one log line per stimulus is noise
    uvicorn.run(build_app(settings_json), host=address, port=port, log_level="warning", access_log=False,
                log_config=None)
