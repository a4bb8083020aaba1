"""A loopback HTTP server for politeness tests that records when each request arrived.

``RecordingServer(route)`` listens on 127.0.0.1 (``host="::1"``: IPv6 loopback), port 0, answers every GET with
``route(path, arrival_index)`` -> ``Answer`` and keeps ``arrivals``: (arrival time, path) in
the order requests came in (``time.monotonic()``), and ``sent``: (time the answer's head
was written, path, status). Each request is served in its own thread, so a slow answer
(``delay``) holds only its own request, as on a real platform.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable


@dataclass
class Answer:
    status: int = 200
    body: bytes = b"{}"
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0  # seconds before the answer is written
    content_type: str = "application/json"


@dataclass
class RecordingServer:
    route: Callable[[str, int], Answer]
    host: str = "127.0.0.1"
    arrivals: list[tuple[float, str]] = field(default_factory=list)
    sent: list[tuple[float, str, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                with recorder.lock:
                    index = len(recorder.arrivals)
                    recorder.arrivals.append((time.monotonic(), self.path))
                answer = recorder.route(self.path, index)
                if answer.delay:
                    time.sleep(answer.delay)
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                for name, value in answer.headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.flush()
                with recorder.lock:
                    recorder.sent.append((time.monotonic(), self.path, answer.status))
                self.wfile.write(answer.body)

        class Server(ThreadingHTTPServer):
            # listen()'s backlog: socketserver's 5 makes the kernel drop the SYNs of a
            # client opening 8 connections at once, and they come in a second late
            request_queue_size = 128
            address_family = socket.AF_INET6 if ":" in self.host else socket.AF_INET

        self.server = Server((self.host, 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        netloc_host = f"[{self.host}]" if ":" in self.host else self.host
        self.base = f"http://{netloc_host}:{self.server.server_port}"

    def paths(self) -> list[str]:
        with self.lock:
            return [path for _, path in self.arrivals]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
