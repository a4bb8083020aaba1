"""MediaWiki from Debian's ``mediawiki`` package, on PHP's web server with SQLite.

Debian's own layout is copied: /var/lib/mediawiki is a folder of symbolic links into
/usr/share/mediawiki plus the site's LocalSettings.php and images/; the test makes the same
folder in a temporary directory and points MediaWiki at its settings with the
MW_CONFIG_FILE environment variable. The wiki is installed with maintenance/install.php,
photos are uploaded with maintenance/importImages.php and pages are edited, hidden and
deleted through MediaWiki's own classes (``seed_mediawiki.php``), whose answer (page and
revision ids, users, times, file URLs) is what the tests compare a crawl with.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .common import Photo, free_port, make_photos, php_server, require

DEBIAN_MEDIAWIKI = Path("/usr/share/mediawiki")
SEED = Path(__file__).with_name("seed_mediawiki.php")

#: uploads by user; all carry GPS except Plain_chart.jpg
UPLOADS = {
    "Alice": [Photo("Kyiv_square.jpg", 640, 480, 50.450100, 30.523400, "2023:03:01 11:50:00",
                    (200, 160, 40)),
              Photo("Harbour_crane.jpg", 640, 480, 53.541000, 9.984000, "2023:03:04 07:10:00",
                    (40, 120, 200))],
    "Bob": [Photo("Protest_march.jpg", 800, 600, 44.426800, 26.102500, "2023:03:05 15:30:00",
                  (180, 40, 40)),
            Photo("Plain_chart.jpg", 400, 300, None, None, "2023:03:05 16:00:00",
                  (120, 120, 120)),
            Photo("Removed_photo.jpg", 640, 480, 41.008200, 28.978400, "2023:03:06 09:00:00",
                  (20, 20, 20))],
}
PHOTOS = {photo.name: photo for photos in UPLOADS.values() for photo in photos}
#: a new version of a file, uploaded over it (importImages.php --overwrite): the first
#: upload stays public under /images/archive/
REUPLOADS = {"Alice": [Photo("Harbour_crane.jpg", 640, 480, 53.545500, 9.966300,
                             "2023:03:09 07:30:00", (200, 200, 40))]}
CURRENT = {**PHOTOS, **{p.name: p for photos in REUPLOADS.values() for p in photos}}

EDITS = [
    ("Kyiv square", "Alice", "20230301120000", "The square at noon.\n\n"
                                               "[[File:Kyiv_square.jpg|thumb|Noon]]"),
    ("Kyiv square", "Bob", "20230302093000", "The square at noon, seen from the east.\n\n"
                                             "[[File:Kyiv_square.jpg|thumb|Noon]]"),
    ("March", "Bob", "20230305160000", "The march passed the harbour.\n\n"
                                       "[[File:Protest_march.jpg]] [[File:Harbour_crane.jpg]]\n\n"
                                       "[[File:Plain_chart.jpg]]"),
    ("Vandalised", "Alice", "20230306100000", "A careful article."),
    ("Vandalised", "Bob", "20230306100500", "SOMEONE'S HOME ADDRESS AND PHONE NUMBER"),
    ("Vandalised", "Alice", "20230306101000", "A careful article, restored."),
    ("Gone", "Alice", "20230307100000", "A page that will be deleted."),
    ("Gone", "Bob", "20230307101000", "A page that will be deleted, edited."),
    ("Kyiv square", "Alice", "20230308120000", "The square at noon, seen from the east, "
                                               "with the fountain.\n\n"
                                               "[[File:Kyiv_square.jpg|thumb|Noon]]"),
]
HIDE_TEXT = [{"title": "Vandalised", "edit": 1}]  # revision deletion of the 2nd edit's text
DELETE_PAGES = ["Gone"]
DELETE_FILES = ["Removed_photo.jpg"]


@dataclass
class Revision:
    """One revision as MediaWiki stored it."""

    id: int
    user: str
    timestamp: str  # ISO 8601 UTC, "2023-03-01T12:00:00Z"
    text_hidden: bool


@dataclass
class Page:
    """One page (or file page) and what happened to it."""

    id: int
    title: str
    namespace: int
    revisions: list[Revision]
    file: dict | None  # File: pages: {"url", "path", "old": [{"url", "path"}...]}
    deleted: bool = False

    @property
    def photo(self) -> Photo | None:
        """The photo of the file's current version."""
        return CURRENT.get(self.file_name) if self.file else None

    @property
    def file_name(self) -> str:
        return self.title.removeprefix("File:").replace(" ", "_")

    def versions(self) -> list[tuple[str, Path, Photo]]:
        """(URL, file on disk, photo) of the current and every earlier upload."""
        if not self.file:
            return []
        current = [(self.file["url"], Path(self.file["path"]), self.photo)]
        return current + [(old["url"], Path(old["path"]), PHOTOS[self.file_name])
                          for old in self.file["old"]]


@dataclass
class Wiki:
    """A running seeded wiki."""

    url: str  # base URL; api.php is at URL/api.php
    pages: list[Page]
    folder: Path
    revisions: dict[int, tuple[Page, Revision]] = field(default_factory=dict)

    def page(self, title: str) -> Page:
        return next(p for p in self.pages if p.title == title)


def _settings(folder: Path, images: Path) -> str:
    return f"""
# lifeboat test wiki: added by tests/real_platforms/mediawiki.py
$wgEnableUploads = true;
$wgUseImageMagick = false;             # GD for thumbnails
$wgUploadDirectory = "{images}";
$wgUploadPath = "/images";
$wgFileExtensions[] = "jpeg";
$wgEnableEmail = false;
$wgCacheDirectory = "{folder}/cache";
"""


def _run(command: list[str], env: dict[str, str], what: str) -> str:
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed ({result.returncode}):\n{result.stdout[-3000:]}\n"
                           f"{result.stderr[-3000:]}")
    return result.stdout


def _install_and_seed(folder: Path, url: str, env: dict[str, str]) -> Wiki:
    """install.php, our settings, users, importImages.php per user, then the edits."""
    maintenance, settings = DEBIAN_MEDIAWIKI / "maintenance", Path(env["MW_CONFIG_FILE"])
    _run(["php", str(maintenance / "install.php"), "--dbtype=sqlite",
          f"--dbpath={folder / 'data'}", "--dbname=wiki", f"--server={url}", "--scriptpath=",
          f"--confpath={folder}", "--pass=not-a-real-password-2023", "--lang=en",
          "lifeboat test wiki", "Admin"], env, "maintenance/install.php")
    with open(settings, "a", encoding="utf-8") as fh:
        fh.write(_settings(folder, folder / "images"))
    spec = folder / "spec.json"
    spec.write_text(json.dumps({
        "users": list(UPLOADS),
        "edits": [{"title": t, "user": u, "time": ts, "text": text} for t, u, ts, text in EDITS],
        "hide_text": HIDE_TEXT, "delete_pages": DELETE_PAGES, "delete_files": DELETE_FILES}))
    _run(["php", str(SEED), "--step=users", str(spec)], env, "seeding users")
    for user, photos in UPLOADS.items():
        upload_dir = folder / "upload" / user
        upload_dir.mkdir(parents=True)
        make_photos(photos, upload_dir)
        _run(["php", str(maintenance / "importImages.php"), f"--user={user}",
              "--comment=Uploaded for the lifeboat test", "--timestamp=20230301080000",
              str(upload_dir)], env, "maintenance/importImages.php")
    for user, photos in REUPLOADS.items():
        upload_dir = folder / "reupload" / user
        upload_dir.mkdir(parents=True)
        make_photos(photos, upload_dir)
        _run(["php", str(maintenance / "importImages.php"), f"--user={user}", "--overwrite",
              "--comment=A better photo", str(upload_dir)], env,
             "maintenance/importImages.php --overwrite")
    truth = json.loads(_run(["php", str(SEED), "--step=pages", str(spec)], env,
                            "seeding pages").strip().splitlines()[-1])
    deleted = set(truth["deleted"])
    pages = [Page(**{**p, "revisions": [Revision(**r) for r in p["revisions"]],
                     "deleted": p["title"] in deleted}) for p in truth["pages"]]
    wiki = Wiki(url, pages, folder)
    wiki.revisions = {r.id: (p, r) for p in pages for r in p.revisions}
    return wiki


@contextmanager
def mediawiki_site(folder: Path) -> Iterator[Wiki]:
    """Install, seed and serve MediaWiki in ``folder``; stops the server afterwards."""
    require(str(DEBIAN_MEDIAWIKI / "api.php"), "php")
    www = folder / "www"
    for path in (www, folder / "data", folder / "images", folder / "cache"):
        path.mkdir(parents=True)
    for entry in DEBIAN_MEDIAWIKI.iterdir():  # Debian's /var/lib/mediawiki, in a temp dir
        if entry.name not in ("LocalSettings.php", "images"):
            (www / entry.name).symlink_to(entry)
    (www / "images").symlink_to(folder / "images")
    port = free_port()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "MW_CONFIG_FILE": str(folder / "LocalSettings.php"),
           "MW_INSTALL_PATH": str(DEBIAN_MEDIAWIKI), "HOME": str(folder)}
    # started first, so that the port written into the settings stays ours
    with php_server(www, port, folder / "php.log", env=env) as url:
        yield _install_and_seed(folder, url, env)
