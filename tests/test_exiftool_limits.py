"""ExifTool's limits: a file ExifTool hangs on costs seconds (the per-file time limit), not
minutes, and the files beside it are still read; an oversized tag value is cut and marked.

The hang comes from a stand-in: a small script in front of the real ExifTool that passes
every command through, except that it stops forwarding (and hangs) when a batch names a
file whose bytes carry a marker. Every reading in these tests is the real ExifTool's.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from metadata.runner import TRUNCATED, ExifToolPool

pytestmark = pytest.mark.timeout(120)
MARKER = b"LIFEBOAT-TEST-HANG"

STAND_IN = '''#!{python}
"""ExifTool, except that a batch naming a file that holds {marker!r} hangs for ever."""
import os, subprocess, sys, threading, time

if "-stay_open" not in sys.argv:  # e.g. -ver: the real one, as it is
    os.execv({exiftool!r}, [{exiftool!r}, *sys.argv[1:]])
real = subprocess.Popen([{exiftool!r}, *sys.argv[1:]], stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)

def pump(source, sink):
    while block := source.read1(65536):
        sink.write(block)
        sink.flush()

for source, sink in ((real.stdout, sys.stdout.buffer), (real.stderr, sys.stderr.buffer)):
    threading.Thread(target=pump, args=(source, sink), daemon=True).start()
for line in sys.stdin.buffer:
    path = line.strip().decode("utf-8", "replace")
    try:
        with open(path, "rb") as fh:
            hangs = {marker!r} in fh.read()
    except OSError:
        hangs = False
    if hangs:
        while True:
            time.sleep(60)
    real.stdin.write(line)
    real.stdin.flush()
'''


@pytest.fixture
def stand_in(tmp_path) -> Path:
    exiftool = shutil.which("exiftool")
    if exiftool is None:
        pytest.skip("ExifTool is not installed (./bootstrap.sh installs it)")
    path = tmp_path / "exiftool-stand-in"
    path.write_text(STAND_IN.format(python=sys.executable, marker=MARKER, exiftool=exiftool))
    path.chmod(0o755)
    return path


def photo(path: Path, make: str) -> str:
    image = Image.new("RGB", (16, 12), (10, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = make  # Make
    image.save(path, "JPEG", exif=exif)
    return str(path)


def test_a_hanging_file_costs_seconds_and_its_neighbours_are_read(tmp_path, stand_in):
    first = photo(tmp_path / "a.jpg", "Nikon")
    hang = tmp_path / "hang.jpg"
    hang.write_bytes(Path(photo(tmp_path / "h.jpg", "Canon")).read_bytes() + MARKER)
    last = photo(tmp_path / "c.jpg", "Fujifilm")
    with ExifToolPool(1, executable=str(stand_in), file_timeout=2.0) as pool:
        started = time.monotonic()
        records = pool.read([first, str(hang), last])
        took = time.monotonic() - started
        assert pool.read([first])[0]["IFD0:Make"] == "Nikon"  # the pool works on
    assert took < 15, f"a hanging file cost {took:.1f} s"
    assert records[0]["IFD0:Make"] == "Nikon" and records[2]["IFD0:Make"] == "Fujifilm"
    assert "said nothing for 2 s" in records[1]["ExifTool:Error"]


def test_oversized_tag_values_are_cut_and_marked(tmp_path):
    if shutil.which("exiftool") is None:
        pytest.skip("ExifTool is not installed (./bootstrap.sh installs it)")
    info = PngInfo()
    info.add_text("Comment", "x" * 300_000)
    info.add_text("Title", "short")
    path = tmp_path / "big.png"
    Image.new("RGB", (4, 4)).save(path, pnginfo=info)
    with ExifToolPool(1, max_value_chars=1000) as pool:
        [record] = pool.read([str(path)])
    comment = [tag for tag in record if tag.endswith(":Comment")]
    assert comment and len(record[comment[0]]) == 1000
    assert record[TRUNCATED] == {comment[0]: 300_000}
    assert [tag for tag in record if tag.endswith(":Title")]
    json.dumps(record)  # still a record the database can store


def test_extract_cli_bounds_a_hanging_file(tmp_path, stand_in):
    """`lifeboat extract --timeout 2` with the stand-in first on PATH (as `exiftool`): the
    WARC's photo that hangs ExifTool gets an error row, the other photo its metadata."""
    import os
    import sqlite3
    import subprocess
    from io import BytesIO

    from warcio.warcwriter import WARCWriter

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "exiftool").symlink_to(stand_in)
    good = Path(photo(tmp_path / "good.jpg", "Nikon")).read_bytes()
    hang = Path(photo(tmp_path / "hang.jpg", "Canon")).read_bytes() + MARKER
    warc = tmp_path / "photos.warc.gz"
    with open(warc, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for name, body in (("good.jpg", good), ("hang.jpg", hang)):
            writer.write_record(writer.create_warc_record(
                f"https://cdn.example/{name}", "resource", payload=BytesIO(body),
                length=len(body), warc_content_type="image/jpeg"))
    db = tmp_path / "photos.db"
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(Path(__file__).resolve().parent.parent / "crawl.py"), "extract",
         "--db", str(db), "--timeout", "2", "--workers", "1", str(warc)],
        capture_output=True, text=True, timeout=100,
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"})
    took = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert took < 40, took
    conn = sqlite3.connect(db)
    rows = dict(conn.execute("SELECT m.url, coalesce(d.make, d.error) FROM media m "
                             "JOIN media_metadata d ON d.sha256 = m.sha256"))
    conn.close()
    assert rows["https://cdn.example/good.jpg"] == "Nikon"
    assert "said nothing for 2 s" in rows["https://cdn.example/hang.jpg"]
