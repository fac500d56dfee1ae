"""The console's web side: a FastAPI app over a `ConsoleState` and a bridge (docs/console.md).

    GET  /                 the page (static/index.html; the shell, no data of the cell)
    GET  /static/...       its script and style (served from the package: no internet needed)
    GET  /api/state        the state as JSON (only the e-stop without authorisation)
    WS   /ws?token=T       the state as JSON text messages when it changes (and once a second, for
                           ages), the camera (with perception's overlay) as binary JPEG messages
    POST /api/goal         {"goal": "put the red cube in the bin"}             needs authorisation
    POST /api/cancel       {}                                                  needs authorisation
    POST /api/estop        {"engaged": true, "reason": "..."}   engaging never needs authorisation;
                                                                releasing does

Authorisation (core.Access): without --require-token (and on a loopback binding) every client
is authorised; otherwise a client sends the token in the `X-Armbrain-Token` header (HTTP) or the
`token` query parameter (the websocket). Every POST must carry `X-Armbrain-Console: 1`: a page
of another site cannot send that header without the browser asking this server first (a CORS
preflight, which it refuses), so it cannot command the robot through an operator's browser.
On a loopback binding only the Host names of this machine are served (no DNS rebinding).
"""

from __future__ import annotations

import asyncio
import time
from importlib import resources
from typing import Protocol
from urllib.parse import urlsplit

from fastapi import FastAPI, Header, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from armbrain.console.core import Access, ConsoleState, is_loopback

PUSH_PERIOD_S = 0.1  # s between two looks at the state for a websocket
REFRESH_S = 1.0  # s after which the state is sent again unchanged (ages, silences)
CSRF_HEADER = "x-armbrain-console"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


class Bridge(Protocol):
    """What the web side needs of the ROS side (console.bridge.ConsoleBridge)."""

    def send_goal(self, text: str) -> tuple[bool, str]: ...
    def cancel(self) -> tuple[bool, str]: ...
    def engage(self, engaged: bool, reason: str, source: str) -> None: ...
    def set_viewers(self, count: int) -> None: ...


def host_name(header: str) -> str:
    """The name in a Host header ("127.0.0.1:8080", "[::1]:8080", "localhost") without the port."""
    return (urlsplit("//" + header).hostname or "") if header else ""


class LocalHostOnly:
    """ASGI middleware: answer only requests (HTTP and websocket) whose Host names this machine,
    so that a site whose name is made to resolve to 127.0.0.1 (DNS rebinding) is refused."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] in ("http", "websocket"):
            host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), "")
            if host_name(host) not in LOCAL_HOSTS:
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                else:
                    await JSONResponse({"ok": False, "message": f"unknown host {host!r}: this console answers "
                                        "only to 127.0.0.1, localhost and ::1"}, status_code=400)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class GoalBody(BaseModel):
    goal: str = Field(max_length=1000)


class EStopBody(BaseModel):
    engaged: bool
    reason: str = Field(default="", max_length=200)


def static_dir():
    return resources.files("armbrain.console") / "static"


def create_app(state: ConsoleState, bridge: Bridge, access: Access, host: str, source_of=None) -> FastAPI:
    """The app. source_of(client address) -> the e-stop's `source` text."""
    app = FastAPI(title="armbrain console", docs_url=None, redoc_url=None, openapi_url=None)
    if is_loopback(host):
        app.add_middleware(LocalHostOnly)
    static = static_dir()
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    viewers = {"count": 0}

    def refuse(status: int, message: str) -> JSONResponse:
        return JSONResponse({"ok": False, "message": message}, status_code=status)

    def check_post(request: Request, token: str | None, needs_auth: bool) -> JSONResponse | None:
        if request.headers.get(CSRF_HEADER) != "1":
            return refuse(403, f"requests must carry the header '{CSRF_HEADER}: 1' (see docs/console.md)")
        if needs_auth and not access.allows(token):
            return refuse(401, "this console needs its token to command the robot (printed when the console "
                               "started, or the one configured with --token / ARMBRAIN_CONSOLE_TOKEN); the e-stop "
                               "works without it")
        return None

    @app.get("/")
    def index() -> FileResponse:
        return FileResponse(str(static / "index.html"), headers={"Cache-Control": "no-store"})

    @app.get("/api/state")
    def get_state(x_armbrain_token: str | None = Header(default=None)) -> dict:
        return state.snapshot(time.monotonic(), access.allows(x_armbrain_token))

    @app.post("/api/goal")
    def post_goal(body: GoalBody, request: Request, x_armbrain_token: str | None = Header(default=None)):
        bad = check_post(request, x_armbrain_token, needs_auth=True)
        if bad is not None:
            return bad
        ok, why = bridge.send_goal(body.goal)
        if not ok:
            state.set_notice(why)
            return refuse(409, why)
        state.set_notice("")
        return {"ok": True, "message": f"goal sent: {body.goal.strip()}"}

    @app.post("/api/cancel")
    def post_cancel(request: Request, x_armbrain_token: str | None = Header(default=None)):
        bad = check_post(request, x_armbrain_token, needs_auth=True)
        if bad is not None:
            return bad
        ok, why = bridge.cancel()
        return {"ok": True, "message": "canceling the goal"} if ok else refuse(409, why)

    @app.post("/api/estop")
    def post_estop(body: EStopBody, request: Request, x_armbrain_token: str | None = Header(default=None)):
        bad = check_post(request, x_armbrain_token, needs_auth=not body.engaged)
        if bad is not None:
            return bad
        client = request.client.host if request.client else "unknown"
        bridge.engage(body.engaged, body.reason, source_of(client) if source_of else client)
        return {"ok": True, "message": "e-stop engaged" if body.engaged else "e-stop released"}

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        origin = websocket.headers.get("origin")
        if origin and urlsplit(origin).netloc != websocket.headers.get("host"):
            await websocket.close(code=1008)  # another site's page
            return
        await websocket.accept()
        authorised = access.allows(websocket.query_params.get("token"))
        if authorised:
            viewers["count"] += 1
            bridge.set_viewers(viewers["count"])
        sent_version, sent_frame, sent_at = -1, 0, 0.0
        try:
            while True:
                now = time.monotonic()
                if state.version != sent_version or now - sent_at >= REFRESH_S:
                    snap = state.snapshot(now, authorised)
                    await websocket.send_json(snap)
                    sent_version, sent_at = snap["version"], now
                if authorised:
                    seq, jpeg = state.latest_frame()
                    if seq != sent_frame and jpeg is not None:
                        await websocket.send_bytes(jpeg)
                        sent_frame = seq
                await asyncio.sleep(PUSH_PERIOD_S)
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass  # the page went away
        finally:
            if authorised:
                viewers["count"] -= 1
                bridge.set_viewers(viewers["count"])

    return app
