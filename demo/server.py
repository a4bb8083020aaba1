"""Run the demo platform: two loopback HTTP hosts (API and media) in one asyncio loop.

`serve()` is what `python -m demo serve` runs; `start_demo()` starts that command in a
subprocess for tests, benchmarks and `lifeboat demo`, and returns a `DemoHandle`.

Speed: 60,000-85,000 requests/s (about 78,000 typical) of small post JSON, measured with
`wrk -t1 -c50` over keep-alive on loopback against this single-process server (one core of
a shared 2-core machine); see demo/README.md, "Speed".
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import socket
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

from demo.faults import FaultSchedule
from demo.http import HttpProtocol, Response, make_response
from demo.media import ensure_media, plan_media
from demo.site import (JSON, NOT_FOUND, ROBOTS, MediaFile, api_routes, build_truth,
                       media_files, range_response)
from demo.world import distinct_media_count, make_world

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class DemoConfig:
    """Everything `python -m demo serve` can be told."""

    posts: int = 500
    seed: int = 1
    host: str = "127.0.0.1"
    latency_ms: float = 0.0
    rate_limit_every: int = 0
    retry_after: int = 1
    error_rate: float = 0.0
    drop_rate: float = 0.0
    repost_rate: float = 0.1
    api_port: int = 0
    media_port: int = 0
    cache_dir: Path | None = None


@dataclass
class ApiApp:
    """The API host: pre-rendered routes, with faults on /api/ paths."""

    routes: dict[str, Response]
    faults: FaultSchedule
    latency: float
    retry_after: int

    def __post_init__(self) -> None:
        after = (("Retry-After", str(self.retry_after)),)
        self.too_many = make_response(429, b'{"error": "rate limited, slow down"}', JSON, after)
        self.unavailable = make_response(503, b'{"error": "service unavailable"}', JSON, after)

    def handle(self, method: str, path: str, headers: dict[str, str]) -> Response | None:
        if self.faults.active and path.startswith("/api/"):
            fault = self.faults.decide(path)
            if fault == "429":
                return self.too_many
            if fault == "503":
                return self.unavailable
            if fault == "drop":
                return None
        return self.routes.get(path, NOT_FOUND)

    def delay(self, path: str) -> float:
        return self.latency if path.startswith("/api/") else 0.0


@dataclass
class MediaApp:
    """The media host (a CDN stand-in): static payloads with Range support."""

    files: dict[str, MediaFile]
    latency: float

    def handle(self, method: str, path: str, headers: dict[str, str]) -> Response | None:
        file = self.files.get(path)
        if file is None:
            return ROBOTS if path == "/robots.txt" else NOT_FOUND
        if "range" in headers:
            return range_response(file, headers["range"])
        return file.full

    def delay(self, path: str) -> float:
        return self.latency if path.startswith("/media/") else 0.0


def bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def build_apps(config: DemoConfig, api_base: str, media_base: str) -> tuple[ApiApp, MediaApp]:
    """Generate (or load from the cache) everything the two hosts serve."""
    world = make_world(config.posts, config.seed, config.repost_rate)
    count = distinct_media_count(config.posts)
    paths = ensure_media(count, config.seed, config.cache_dir)
    payloads = {index: path.read_bytes() for index, path in paths.items()}
    specs = {index: plan_media(index, config.seed) for index in range(count)}
    truth = build_truth(world, specs, payloads, api_base, media_base)
    faults = FaultSchedule(config.seed, config.rate_limit_every, config.error_rate,
                           config.drop_rate)
    latency = config.latency_ms / 1000
    return (ApiApp(api_routes(world, truth, media_base), faults, latency, config.retry_after),
            MediaApp(media_files(world, payloads), latency))


async def serve_async(config: DemoConfig, ready: Callable[[str, str], None]) -> None:
    """Bind both hosts, build the content, call `ready(api, media)`, serve until a signal."""
    api_sock, media_sock = bind(config.host, config.api_port), bind(config.host, config.media_port)
    api_base, media_base = url_of(api_sock), url_of(media_sock)
    api_app, media_app = build_apps(config, api_base, media_base)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    servers = [await loop.create_server(lambda app=app: HttpProtocol(app), sock=sock,
                                        backlog=1024)
               for app, sock in ((api_app, api_sock), (media_app, media_sock))]
    ready(api_base, media_base)
    await stop.wait()
    for server in servers:
        server.close()


def serve(config: DemoConfig) -> None:
    """Serve the demo platform, printing {"api": URL, "media": URL} as the first stdout line."""
    def announce(api: str, media: str) -> None:
        print(json.dumps({"api": api, "media": media}), flush=True)
        print(f"demo platform: {config.posts} posts, seed {config.seed}; API {api}, "
              f"media {media}; /_truth.json has the ground truth", file=sys.stderr, flush=True)

    asyncio.run(serve_async(config, announce))


@dataclass
class DemoHandle:
    """A running demo platform subprocess."""

    api: str
    media: str
    process: subprocess.Popen
    posts: int
    seed: int

    @cached_property
    def truth(self) -> dict:
        """The parsed /_truth.json."""
        with urllib.request.urlopen(f"{self.api}/_truth.json", timeout=30) as response:
            return json.load(response)

    def post_url(self, post_id: int | str) -> str:
        return f"{self.api}/api/v1/posts/{post_id}"

    def user_url(self, username: str) -> str:
        return f"{self.api}/api/v1/users/{username}"

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()

    def __enter__(self) -> DemoHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_command(posts: int = 500, seed: int = 1, **options: Any) -> list[str]:
    """The `python -m demo serve ...` command line for these options."""
    command = [sys.executable, "-m", "demo", "serve", "--posts", str(posts), "--seed", str(seed)]
    for name, value in options.items():
        if value is not None:
            command += [f"--{name.replace('_', '-')}", str(value)]
    return command


def start_demo(posts: int = 500, seed: int = 1, *, timeout: float = 120.0,
               **options: Any) -> DemoHandle:
    """Start `python -m demo serve` in a subprocess; return once it prints its URLs.

    `options` are the serve flags with underscores: host, latency_ms, rate_limit_every,
    retry_after, error_rate, drop_rate, repost_rate, api_port, media_port, cache_dir.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    process = subprocess.Popen(serve_command(posts, seed, **options), stdout=subprocess.PIPE,
                               cwd=ROOT, env=env)
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    line = process.stdout.readline() if ready else b""
    try:
        urls = json.loads(line)
    except ValueError:
        process.kill()
        process.wait()
        raise RuntimeError(f"the demo platform did not start (exit status {process.poll()}, "
                           f"first line {line[:200]!r}); run `python -m demo serve` to see why")
    return DemoHandle(urls["api"], urls["media"], process, posts, seed)
