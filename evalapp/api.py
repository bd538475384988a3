"""The two HTTP routes the MUSHRA component talks to, mounted beside Streamlit (``st.App(routes=)``).

``GET /evalapp/audio/<token>``
    One stimulus as a WAV file, streamed from the listening-set folder by Starlette's
    ``FileResponse`` (never held in Python memory). ``<token>`` is an HMAC-signed, per-listener,
    per-trial, per-slot name (:func:`evalapp.flow.stimulus_token`): it carries no condition name or
    role, the reference button and the hidden reference get different names, and no path is ever
    taken from the URL, so path traversal has nothing to act on.

``POST /evalapp/api/submit``
    One trial's ratings, ``Authorization: Bearer <resume token>``, JSON body
    ``{"position": 3, "time_on_page_s": 41.2, "ratings": {"0": {"score": 80, "played": true,
    "play_count": 2}, ...}}`` (keys are slots, as shown A, B, C ...). Written at once in one
    transaction, idempotently. Answers ``{"ok": true, "finished": false, "next_position": 4,
    "n_submits": 1}`` or ``{"ok": false, "error": "..."}`` with status 400/403/404/409/413/415.
    The browser component uses exactly this route, and so does the load benchmark.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from functools import lru_cache

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from evalapp.context import AppContext
from evalapp.errors import SubmitRejected
from evalapp.flow import condition_for_slot, parse_stimulus_token
from evalapp.storage import repository as repo

AUDIO_PREFIX = "/evalapp/audio/"
SUBMIT_PATH = "/evalapp/api/submit"
MAX_BODY_BYTES = 64 * 1024
_NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def _error(exc: SubmitRejected) -> JSONResponse:
    return JSONResponse({"ok": False, "error": str(exc)}, status_code=exc.status, headers=_NO_STORE)


def make_routes(get_context: Callable[[], AppContext]) -> list[Route]:
    """The routes, resolving the (lazily built, per-process) context on each request."""

    @lru_cache(maxsize=65_536)
    def cached_plan(public_id: str, position: int):
        # A presentation order never changes once stored, so each one is read from the database
        # once per process (misses are not cached: lru_cache would, so they raise instead).
        plan = repo.trial_plan(get_context().engine, get_context().test, public_id, position)
        if plan is None:
            raise SubmitRejected("no such stimulus", status=404)
        return plan

    def resolve_stimulus(token: str):
        ctx = get_context()
        public_id, position, slot = parse_stimulus_token(ctx.test.secret, token)
        plan = cached_plan(public_id, position)
        return ctx.stimulus_path(plan.item_id, condition_for_slot(plan, slot, ctx.design.reference))

    async def audio(request: Request) -> Response:
        token = request.path_params["token"]
        try:
            path = await run_in_threadpool(resolve_stimulus, token)
        except SubmitRejected as exc:
            return _error(exc)
        response = FileResponse(path, media_type="audio/wav", stat_result=os.stat(path), headers={
            "Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff",
            # Per-URL validator: the file's own mtime/size ETag would be equal for the reference
            # button and the hidden reference, and so reveal which slot is the reference.
            "ETag": '"' + hashlib.sha256(token.encode()).hexdigest()[:20] + '"',
        })
        del response.headers["last-modified"]
        return response

    async def submit(request: Request) -> Response:
        try:
            auth = request.headers.get("authorization", "")
            if not auth.startswith("Bearer "):
                raise SubmitRejected("missing resume token (Authorization: Bearer ...)", status=403)
            if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
                raise SubmitRejected("the submission must be application/json", status=415)
            declared = request.headers.get("content-length")
            if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
                raise SubmitRejected("the submission is too large", status=413)
            body = b""
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    raise SubmitRejected("the submission is too large", status=413)
            try:
                payload = json.loads(body)
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise SubmitRejected("the submission is not valid JSON") from None
            ctx = get_context()
            result = await run_in_threadpool(repo.save_trial, ctx.engine, ctx.test, auth[len("Bearer "):].strip(),
                                             payload, ctx.config.rules)
        except SubmitRejected as exc:
            return _error(exc)
        return JSONResponse({"ok": True, "position": result.position, "finished": result.finished,
                             "next_position": result.next_position, "n_submits": result.n_submits},
                            headers=_NO_STORE)

    return [Route(AUDIO_PREFIX + "{token}", audio, methods=["GET", "HEAD"]),
            Route(SUBMIT_PATH, submit, methods=["POST"])]
