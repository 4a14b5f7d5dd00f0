"""Helpers every test package shares (one copy each): free loopback ports, connected MQTT
clients, bounded waiting, a local SMTP server and a local HTTP receiver."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from hwms_common.config import MqttConnection
from hwms_common.mqtt import mqtt_client


def free_port() -> int:
    """A loopback TCP port nobody listens on (at the time of asking)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def client(port: int, client_id: str = "", *, v5: bool = True, start: bool = True) -> mqtt.Client:
    """A test's own MQTT client on the loopback broker at `port`, connected (blocking) and,
    with `start`, with its network loop running; built as hwms builds its own."""
    c = mqtt_client(MqttConnection(port=port, protocol="v5" if v5 else "v311"), client_id)
    c.connect("127.0.0.1", port)
    if start:
        c.loop_start()
    return c


def until(cond: Callable[[], object], timeout: float = 30.0, what: str = "condition") -> None:
    """Wait (bounded) for `cond()` to be true."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} not met in {timeout} s")


def api_process(db_url: str, log_path: Path, *extra: str) -> Iterator[str]:
    """`hwms central api` (API and web app) as its own process on a free port, its output
    in `log_path`: yields the base URL once it answers /health, stops it afterwards."""
    port = free_port()
    root = Path(__file__).resolve().parents[1]
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "hwms_cli", "central", "api", "--db", db_url,
                                 "--port", str(port), *extra],
                                cwd=root, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        until(lambda: _answers(f"{base}/health") or proc.poll() is not None, 30, "the API")
        assert proc.poll() is None, log_path.read_text()[-2000:]
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1).close()
        return True
    except OSError:
        return False


class Mailbox:
    """A local SMTP server (aiosmtpd) on a free loopback port that keeps what it gets."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(message_from_bytes(envelope.content, policy=default_policy))
        return "250 OK"


@contextmanager
def smtp_server() -> Iterator[Mailbox]:
    from aiosmtpd.controller import Controller

    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


class Receiver:
    """A local HTTP server on a free loopback port that keeps each POST's or PUT's path and
    JSON body and answers `status` (a FHIR server, a webhook); `status` may change."""

    def __init__(self, status: int = 200) -> None:
        self.port = free_port()
        self.status = status
        self.posts: list[tuple[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def http_receiver(status: int = 200) -> Iterator[Receiver]:
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    got = Receiver(status)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            got.posts.append((self.path, json.loads(body or b"null")))
            reply = json.dumps({"resourceType": "Bundle", "type": "transaction-response"})
            self.send_response(got.status)
            self.send_header("Content-Type", "application/fhir+json")
            self.end_headers()
            self.wfile.write(reply.encode())

        def do_PUT(self) -> None:
            self.do_POST()  # kept the same way: (path, body)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", got.port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield got
    finally:
        server.shutdown()
        server.server_close()
