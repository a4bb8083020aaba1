"""The WARC writer and the torn-record repair, on real files written by warcio."""

from __future__ import annotations

import random
import subprocess
import sys
from io import BytesIO
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders

from archive.repair import find_tear, repair_warc
from archive.writer import RotatingWarcWriter, warc_files


def response(writer: RotatingWarcWriter, n: int, size: int = 3000):
    body = random.Random(n).randbytes(size)  # incompressible, like a JPEG
    headers = StatusAndHeaders("200 OK", [("Content-Type", "image/jpeg"),
                                          ("Content-Length", str(size))], protocol="HTTP/1.1")
    return writer.builder.create_warc_record(f"http://127.0.0.1:1/m/{n}.jpg", "response",
                                             payload=BytesIO(body), length=size,
                                             http_headers=headers)


def write_file(tmp_path: Path, count: int, max_size: int = 10**9) -> RotatingWarcWriter:
    writer = RotatingWarcWriter(tmp_path, "job", max_size, {"software": "lifeboat test"})
    for n in range(count):
        writer.write([response(writer, n)])
    writer.close()
    return writer


def warcio_check(paths: list[Path]) -> None:
    warcio = Path(sys.executable).with_name("warcio")
    result = subprocess.run([str(warcio), "check", *map(str, paths)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_rotation_starts_each_file_with_warcinfo_and_continues_serials(tmp_path):
    first = write_file(tmp_path, 9, max_size=8000)
    assert len(first.files_written) >= 3
    second = write_file(tmp_path, 1)
    files = warc_files(tmp_path)
    assert [f.name for f in files] == first.files_written + second.files_written
    serials = [int(f.name.rsplit("-", 1)[1].split(".")[0]) for f in files]
    assert serials == list(range(len(files)))
    total = 0
    for path in files:
        with open(path, "rb") as fh:
            types = [r.rec_type for r in ArchiveIterator(fh)]
        assert types[0] == "warcinfo" and types.count("warcinfo") == 1
        total += types.count("response")
    assert total == 10
    warcio_check(files)


@pytest.mark.parametrize("cut", [10, 500, 2900, "headers", "trailing"])
def test_torn_last_record_is_cut_at_its_start(tmp_path, cut):
    writer = write_file(tmp_path, 3)
    path = tmp_path / writer.files_written[0]
    data = path.read_bytes()
    with open(path, "rb") as fh:
        iterator = ArchiveIterator(fh)
        offsets = []
        for record in iterator:
            record.content_stream().read()
            offsets.append(iterator.get_record_offset())
    last = offsets[-1]
    if cut == "headers":
        torn = data[:last + 30]
    elif cut == "trailing":
        torn = data + data[last:last + 100]
    else:
        torn = data[:len(data) - cut]
    path.write_bytes(torn)
    expected = len(data) if cut == "trailing" else last
    assert find_tear(path, offsets[1])[0] == expected
    repair = repair_warc(path)
    assert repair is not None and repair.size_after == expected
    assert f"at offset {expected}" in str(repair)
    assert repair_warc(path) is None
    warcio_check([path])


def test_intact_file_is_left_alone(tmp_path):
    writer = write_file(tmp_path, 2)
    path = tmp_path / writer.files_written[0]
    before = path.read_bytes()
    assert repair_warc(path) is None
    assert path.read_bytes() == before
