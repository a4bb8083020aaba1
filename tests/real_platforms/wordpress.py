"""WordPress from Debian's ``wordpress`` package, on PHP's web server and a throwaway MariaDB.

Debian installs WordPress in /usr/share/wordpress and reads its settings from
/etc/wordpress/config-HOST.php; a test must not write there, so the site runs from a copy
of /usr/share/wordpress (about 1 s) with its own wp-config.php and wp-content folder.
``router_wordpress.php`` does for ``php -S`` what WordPress's .htaccess does for Apache
(paths that are not files go to index.php: the REST API, robots.txt, permalinks).
It is installed and filled by ``seed_wordpress.php`` through WordPress's own functions
(wp_install, wp_insert_post, media_handle_sideload, which makes the resized copies and
the ``-scaled`` image of a photo over 2560 px). The seeding script's answer (ids, URLs of
originals and resized copies, statuses) is what the tests compare a crawl with.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from .common import Photo, free_port, make_photos, mariadb, php_server, require

DEBIAN_WORDPRESS = Path("/usr/share/wordpress")
SEED = Path(__file__).with_name("seed_wordpress.php")
ROUTER = Path(__file__).with_name("router_wordpress.php")  # Apache's rewrite rules

#: every photo carries GPS except "nogps"; paris, sydney and newyork exceed 2560 px (the
#: size over which WordPress shows a "-scaled" copy), the others are only resized
PHOTOS = {p.name.split(".")[0]: p for p in [
    Photo("paris.jpg", 2700, 1800, 48.858370, 2.294481, "2023:05:01 10:15:00", (200, 60, 60)),
    Photo("sydney.jpg", 2600, 1950, -33.856784, 151.215297, "2023:06:02 08:30:00",
          (60, 160, 80)),
    Photo("newyork.jpg", 1800, 2600, 40.689247, -74.044502, "2023:07:03 16:45:00",
          (60, 60, 200)),
    Photo("harbour.jpg", 1800, 1200, 43.296482, 5.369780, "2023:07:04 07:00:00",
          (20, 140, 160)),
    Photo("small.jpg", 1200, 800, -33.448890, -70.669265, "2023:08:04 12:00:00",
          (180, 160, 40)),
    Photo("nogps.jpg", 900, 600, None, None, "2023:09:05 09:00:00", (120, 120, 120)),
    Photo("secret.jpg", 1200, 800, 51.500729, -0.124625, "2023:09:06 09:00:00", (90, 10, 90)),
    Photo("draft.jpg", 1200, 800, 52.516275, 13.377704, "2023:09:07 09:00:00", (10, 90, 10)),
]}

STYLE = '<!-- wp:html -->\n<style>.callout { color: #c00; }</style>\n<!-- /wp:html -->\n'

#: the blog: what a crawl must archive, and what it must never archive as a post
POSTS = [
    {"key": "eiffel", "author": "alice", "title": "Eiffel tower at dawn",
     "date_gmt": "2023-05-01 10:15:00", "status": "publish", "featured": "paris",
     "photos": ["paris"],
     "content": STYLE + "<!-- wp:paragraph -->\n<p>Seen from <em>Trocadéro</em>, at dawn; "
                "the <a href=\"https://example.org/\">square</a> was empty.</p>\n"
                "<!-- /wp:paragraph -->\n{img:paris:large}"},
    {"key": "cities", "author": "bob", "title": "Two cities",
     "date_gmt": "2023-06-02 08:30:00", "status": "publish", "featured": "newyork",
     "photos": ["sydney", "newyork", "harbour", "nogps"],
     "content": "<p>Sydney then New York.</p>\n{classic:sydney:medium}\n{img:newyork:large}\n"
                "{img:nogps:medium}"},
    {"key": "market", "author": "alice", "title": "Market day",
     "date_gmt": "2023-08-04 12:00:00", "status": "publish", "photos": ["small"],
     "content": "<p>Small photo, no scaled copy: <strong>the original</strong>.</p>\n"
                "{img:small:full}"},
    {"key": "words", "author": "bob", "title": "Only words",
     "date_gmt": "2023-08-05 12:00:00", "status": "publish",
     "content": "<p>No pictures today.</p>"},
    {"key": "protected", "author": "alice", "title": "Members only",
     "date_gmt": "2023-09-06 09:00:00", "status": "publish", "password": "letmein",
     "photos": ["secret"], "featured": "secret", "content": "<p>secret body</p>{img:secret:large}"},
    {"key": "draft", "author": "bob", "title": "Unfinished", "date_gmt": "2023-09-07 09:00:00",
     "status": "draft", "photos": ["draft"], "content": "<p>draft body</p>{img:draft:large}"},
    {"key": "private", "author": "alice", "title": "Private diary",
     "date_gmt": "2023-09-08 09:00:00", "status": "private", "content": "<p>private body</p>"},
    {"key": "trashed", "author": "bob", "title": "Trashed", "date_gmt": "2023-09-09 09:00:00",
     "status": "publish", "after": "trash", "content": "<p>trashed body</p>"},
    {"key": "deleted", "author": "bob", "title": "Deleted", "date_gmt": "2023-09-10 09:00:00",
     "status": "publish", "after": "delete", "content": "<p>deleted body</p>"},
    {"key": "about", "type": "page", "author": "alice", "title": "About",
     "date_gmt": "2023-09-11 09:00:00", "status": "publish", "content": "<p>About us</p>"},
]
USERS = {"alice": "Alice Martin", "bob": "Bob Okafor"}


@dataclass
class Attachment:
    """One uploaded photo as WordPress made it."""

    key: str
    id: int
    original: str  # URL of the file as uploaded (GPS kept)
    original_file: Path
    url: str  # what WordPress shows as "the" file: the -scaled copy of a large photo
    sizes: dict[str, str]  # resized copies (EXIF stripped by GD)

    @property
    def photo(self) -> Photo:
        return PHOTOS[self.key]


@dataclass
class Post:
    """One seeded post (or page) and its final state in WordPress."""

    key: str
    id: int
    type: str
    status: str
    protected: bool
    title: str
    author: str  # display name
    date_gmt: str
    attachments: list[Attachment]

    @property
    def public(self) -> bool:
        """Readable as a post by an anonymous visitor, text and all."""
        return self.type == "post" and self.status == "publish" and not self.protected


@dataclass
class WordPressSite:
    """A running seeded site."""

    url: str
    posts: list[Post]
    folder: Path

    def post(self, key: str) -> Post:
        return next(p for p in self.posts if p.key == key)

    @property
    def last_id(self) -> int:
        return max([p.id for p in self.posts] +
                   [a.id for p in self.posts for a in p.attachments])


def _config(site: Path, url: str, socket: Path) -> str:
    return f"""<?php
// lifeboat test site: written by tests/real_platforms/wordpress.py
define('DB_NAME', 'wordpress');
define('DB_USER', 'root');
define('DB_PASSWORD', '');
define('DB_HOST', 'localhost:{socket}');
define('DB_CHARSET', 'utf8mb4');
define('DB_COLLATE', '');
define('WP_HOME', '{url}');
define('WP_SITEURL', '{url}');
define('WP_CONTENT_DIR', __DIR__ . '/wp-content');
define('WP_CONTENT_URL', '{url}/wp-content');
define('AUTOMATIC_UPDATER_DISABLED', true);
define('DISABLE_WP_CRON', true);
define('WP_HTTP_BLOCK_EXTERNAL', true);
$table_prefix = 'wp_';
if (!defined('ABSPATH')) define('ABSPATH', __DIR__ . '/');
require_once ABSPATH . 'wp-settings.php';
"""


def _spec(photo_dir: Path) -> dict:
    made = make_photos(list(PHOTOS.values()), photo_dir)
    paths = {key: str(made[photo.name]) for key, photo in PHOTOS.items()}
    return {"title": "lifeboat test blog",
            "users": [{"login": login, "name": name} for login, name in USERS.items()],
            "posts": [{**post, "photos": {k: paths[k] for k in post.get("photos", [])}}
                      for post in POSTS]}


@contextmanager
def wordpress_site(folder: Path) -> Iterator[WordPressSite]:
    """Install, seed and serve WordPress in ``folder``; stops everything afterwards."""
    require(str(DEBIAN_WORDPRESS / "wp-settings.php"), "php")
    site_dir, photo_dir = folder / "wordpress", folder / "photos"
    photo_dir.mkdir(parents=True)
    shutil.copytree(DEBIAN_WORDPRESS, site_dir, symlinks=True)
    (site_dir / "wp-content" / "uploads").mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with ExitStack() as stack:
        stack.enter_context(php_server(site_dir, port, folder / "php.log",  # holds the port
                                       router=ROUTER))
        db = stack.enter_context(mariadb(folder / "mariadb"))
        db.sql("CREATE DATABASE wordpress CHARACTER SET utf8mb4")
        (site_dir / "wp-config.php").write_text(_config(site_dir, url, db.socket))
        spec = folder / "spec.json"
        spec.write_text(json.dumps(_spec(photo_dir)))
        seeded = subprocess.run(["php", str(SEED), str(site_dir), str(spec)],
                                capture_output=True, text=True, cwd=site_dir,
                                env={"HTTP_HOST": f"127.0.0.1:{port}", "PATH": "/usr/bin:/bin"})
        if seeded.returncode != 0:
            raise RuntimeError(f"seeding WordPress failed:\n{seeded.stdout}\n{seeded.stderr}")
        truth = json.loads(seeded.stdout.strip().splitlines()[-1])
        posts = [Post(**{**p, "author": USERS[p["author"]], "attachments": [
            Attachment(**{**a, "original_file": Path(a["original_file"])})
            for a in p["attachments"]]}) for p in truth["posts"]]
        yield WordPressSite(url, posts, folder)
