"""What both real platforms need: a free port, PHP's web server, MariaDB, geotagged photos.

Everything runs as the current user in a temporary folder and listens on 127.0.0.1 only
(MariaDB on a Unix socket inside that folder, no TCP at all).
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw

#: PHP modules both platforms need (Debian: php-cli, php-gd, php-mysql, php-sqlite3, ...)
PHP_MODULES = ("gd", "mysqli", "pdo_sqlite", "mbstring", "xml", "intl", "exif")


class NotInstalled(Exception):
    """A program or Debian package the real platform needs is missing; run ./bootstrap.sh test."""


def program(name: str) -> str | None:
    """The path of program ``name``, also looked for in /usr/sbin (mariadbd lives there)."""
    return shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin"]))


def require(*paths: str) -> None:
    """Raise NotInstalled naming the first missing file or program."""
    for path in paths:
        if not (Path(path).exists() if path.startswith("/") else program(path)):
            raise NotInstalled(f"{path} is missing: install Debian's packages with "
                               "./bootstrap.sh test (apt-get install wordpress mediawiki "
                               "mariadb-server php-cli php-sqlite3)")
    modules = subprocess.run(["php", "-m"], capture_output=True, text=True).stdout.lower()
    missing = [m for m in PHP_MODULES if m not in modules.split()]
    if missing:
        raise NotInstalled(f"PHP modules missing: {', '.join(missing)} (Debian: php-gd, "
                           "php-mysql, php-sqlite3, php-mbstring, php-xml, php-intl)")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now and that the kernel does not hand out.

    The platform's URL is written into its settings and posts before the server starts,
    so the port is chosen below the ephemeral range: no client socket or port-0 server of
    a test running alongside can take it meanwhile. Start the server at once all the same.
    """
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    for port in random.sample(range(10000, max(low, 10100)), 50):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(ready, what: str, process: subprocess.Popen, log: Path,
               timeout: float = 30) -> None:
    """Poll ``ready()`` until true; fail with the log's tail if the process dies or hangs."""
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{what} did not start (exit status {process.poll()}):\n{tail}")
        time.sleep(0.05)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def stop(process: subprocess.Popen) -> None:
    """Stop a server we started (its own process group), politely then firmly."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


SERVED = re.compile(r"\] 127\.0\.0\.1:\d+ \[(\d{3})\]: (\w+) (\S+)")


def served(log: Path) -> list[tuple[int, str, str]]:
    """(status, method, path) of every request in ``php -S``'s own log, in order."""
    return [(int(m[1]), m[2], m[3]) for m in SERVED.finditer(log.read_text(errors="replace"))]


@contextmanager
def php_server(docroot: Path, port: int, log: Path, router: Path | None = None,
               env: dict[str, str] | None = None, workers: int = 4) -> Iterator[str]:
    """``php -S 127.0.0.1:PORT`` serving ``docroot``; yields its base URL."""
    command = ["php", "-S", f"127.0.0.1:{port}", "-t", str(docroot)]
    if router:
        command.append(str(router))
    environment = {**os.environ, **(env or {}), "PHP_CLI_SERVER_WORKERS": str(workers)}
    with open(log, "ab") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                   env=environment, cwd=docroot, start_new_session=True)
    try:
        wait_until(lambda: _listening(port), f"php -S on port {port}", process, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


@dataclass
class MariaDB:
    """A throwaway MariaDB server: its data folder and Unix socket."""

    datadir: Path
    socket: Path

    def sql(self, statement: str) -> str:
        """Run SQL as root through the socket; returns the output."""
        result = subprocess.run(["mariadb", f"--socket={self.socket}", "-uroot", "-N", "-e",
                                 statement], capture_output=True, text=True, check=True)
        return result.stdout


@contextmanager
def mariadb(folder: Path) -> Iterator[MariaDB]:
    """Initialise and start MariaDB in ``folder`` (no TCP port, socket only)."""
    require("mariadbd", "mariadb-install-db", "mariadb")
    datadir, sock, log = folder / "data", folder / "mysqld.sock", folder / "mysqld.log"
    user = ["--user=root"] if os.geteuid() == 0 else []  # mariadbd refuses root otherwise
    subprocess.run([program("mariadb-install-db"), "--no-defaults", f"--datadir={datadir}", *user,
                    "--auth-root-authentication-method=normal", "--skip-test-db"],
                   capture_output=True, check=True)
    process = subprocess.Popen(
        [program("mariadbd"), "--no-defaults", f"--datadir={datadir}", f"--socket={sock}",
         "--skip-networking", f"--pid-file={folder / 'mysqld.pid'}", f"--log-error={log}",
         "--innodb-buffer-pool-size=32M", "--skip-log-bin", *user],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_until(sock.exists, "mariadbd", process, log)
        yield MariaDB(datadir, sock)
    finally:
        stop(process)


@dataclass(frozen=True)
class Photo:
    """A photo to upload: its file name, size, and the GPS position and time written into it."""

    name: str
    width: int
    height: int
    latitude: float | None
    longitude: float | None
    taken: str  # EXIF form, "2023:05:01 10:15:00"
    colour: tuple[int, int, int] = (40, 90, 160)


def draw_photo(photo: Photo, folder: Path) -> Path:
    """Draw ``photo`` as a JPEG with Pillow (no metadata yet)."""
    path = folder / photo.name
    image = Image.linear_gradient("L").resize((photo.width, photo.height))
    image = Image.merge("RGB", (image, Image.new("L", image.size, photo.colour[1]),
                                image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    ImageDraw.Draw(image).rectangle((photo.width // 4, photo.height // 4, photo.width // 2,
                                     photo.height // 2), fill=photo.colour)
    image.save(path, "JPEG", quality=60)
    return path


def exiftool_args(photo: Photo) -> list[str]:
    """ExifTool arguments writing the photo's camera, time and GPS position."""
    args = [f"-EXIF:DateTimeOriginal={photo.taken}", "-EXIF:Make=lifeboat-test",
            "-EXIF:Model=real-platform"]
    if photo.latitude is not None and photo.longitude is not None:
        args += [f"-GPSLatitude={abs(photo.latitude)}",
                 f"-GPSLatitudeRef={'S' if photo.latitude < 0 else 'N'}",
                 f"-GPSLongitude={abs(photo.longitude)}",
                 f"-GPSLongitudeRef={'W' if photo.longitude < 0 else 'E'}"]
    return args


def make_photos(photos: list[Photo], folder: Path) -> dict[str, Path]:
    """Draw every photo and write its metadata with the real ExifTool (one run for all)."""
    paths = {photo.name: draw_photo(photo, folder) for photo in photos}
    command = ["exiftool"]
    for index, photo in enumerate(photos):
        if index:
            command.append("-execute")
        command += [*exiftool_args(photo), str(paths[photo.name])]
    command += ["-common_args", "-q", "-overwrite_original"]
    subprocess.run(command, check=True)
    return paths
