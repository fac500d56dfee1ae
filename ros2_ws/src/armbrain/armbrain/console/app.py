"""`armbrain console`: serve the operator console (docs/console.md).

    armbrain console [--host 127.0.0.1] [--port 8080] [--require-token] [--token T] [--domain-id N]

Joins the graph's ROS domain as one more node and serves the page until Ctrl-C (exit 0).
A binding other machines reach (any --host but loopback) requires a token for goals, cancel
and release; so does --require-token on loopback. The token is --token, else
$ARMBRAIN_CONSOLE_TOKEN, else a new random one printed at start-up. Engaging the e-stop never
needs it. Exit codes: 0 stopped by Ctrl-C/SIGTERM, 2 bad usage (port taken, no token ...).
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import sys
from pathlib import Path
from typing import TextIO

from armbrain.console.core import Access

DEFAULT_HOST, DEFAULT_PORT = "127.0.0.1", 8080
TOKEN_ENV = "ARMBRAIN_CONSOLE_TOKEN"
EXIT_USAGE = 2


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default=DEFAULT_HOST,
                   help="address to serve on (default %(default)s: this machine only; any other address "
                        "requires the token for commands)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="TCP port (default %(default)s; 0: any free one)")
    p.add_argument("--require-token", action="store_true",
                   help="require the token for goals, cancel and release even on loopback (always on for "
                        "other addresses)")
    p.add_argument("--token", default=None,
                   help=f"the token (default: ${TOKEN_ENV}, else a random one printed at start-up)")


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on (host, port); OSError naming the cause."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError:
        sock.close()
        raise
    sock.listen(64)
    return sock


def url_of(host: str, port: int) -> str:
    h = host.strip("[]")
    return f"http://[{h}]:{port}/" if ":" in h else f"http://{h}:{port}/"


def run_console(opts: argparse.Namespace, domain_id: int, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    import uvicorn

    from armbrain.console.bridge import ConsoleBridge, console_source
    from armbrain.console.core import ConsoleState
    from armbrain.console.web import create_app
    from armbrain.graph import share_dir

    token = opts.token if opts.token is not None else os.environ.get(TOKEN_ENV, "")
    try:
        access = Access.for_binding(opts.host, opts.require_token, token or secrets.token_urlsafe(16))
    except ValueError as exc:
        print(f"armbrain console: error: {exc}", file=err)
        return EXIT_USAGE
    try:
        sock = bind(opts.host, opts.port)
    except OSError as exc:
        print(f"armbrain console: error: cannot serve on {opts.host}:{opts.port}: {exc.strerror or exc}; "
              "choose another --port (or stop what uses it)", file=err)
        return EXIT_USAGE
    host, port = sock.getsockname()[:2]
    # Camera frames travel whole through shared memory, as between the graph's nodes (ROS_ON_PIP.md).
    profile = Path(share_dir("armbrain")) / "config" / "fastdds_shm.xml"
    if profile.is_file():
        os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(profile))
    state = ConsoleState()
    bridge = ConsoleBridge(state, domain_id)
    try:
        app = create_app(state, bridge, access, opts.host, console_source)
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", ws="websockets-sansio", lifespan="off",
                                               timeout_graceful_shutdown=2))
        url = url_of(host, port)
        print(f"armbrain console: {url} (ROS_DOMAIN_ID {domain_id}); Ctrl-C stops it", file=out, flush=True)
        if access.require_token:
            told = "" if token else " (a new one; set --token or $" + TOKEN_ENV + " to keep one)"
            print(f"armbrain console: commanding the robot needs the token{told}: {access.token}\n"
                  f"armbrain console: open {url}?token={access.token}  (the e-stop works without it)",
                  file=out, flush=True)
        # uvicorn handles SIGINT/SIGTERM (a graceful shutdown), then raises the signal again for the
        # handler found before it: these make that a clean exit 0 (CONVENTIONS.md, section 2).
        stopped: list[int] = []
        previous = {s: signal.signal(s, lambda n, _f: stopped.append(n)) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            server.run(sockets=[sock])
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
    finally:
        bridge.close()
        sock.close()
    print("armbrain console: stopped", file=out, flush=True)
    return 0
