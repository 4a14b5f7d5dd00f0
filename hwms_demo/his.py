"""The demo's hospital information system: a local HTTP endpoint that takes the FHIR
resources the ledger pushes to it (PUT <type>/<id>), keeps them and says so in the day's
log. Standard library only."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from hwms_demo.supervisor import free_port


class DemoHis:
    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[tuple[str, str, str]] = []  # (type, id, status)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir"

    def start(self) -> DemoHis:
        his = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = self.path.strip("/").split("/")  # fhir/<type>/<id>
                try:
                    status = str(json.loads(body or b"{}").get("status", ""))
                except ValueError:
                    self.send_response(400)
                    self.end_headers()
                    return
                with his._lock:
                    his.received.append((parts[-2], parts[-1], status))
                self.send_response(200)
                self.send_header("Content-Type", "application/fhir+json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def seen(self) -> list[tuple[str, str, str]]:
        with self._lock:
            return list(self.received)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
