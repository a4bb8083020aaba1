"""Pre-rendered responses of the demo platform and its ground truth (`/_truth.json`).

Every response body is built once at start-up, so serving a request is a dict lookup.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from demo.http import Response, make_response
from demo.media import GENERATOR_VERSION, MediaSpec, truth_entry
from demo.world import Post, User, World

JSON = "application/json; charset=utf-8"
NOT_FOUND = make_response(404, b'{"error": "not found"}', JSON)
ROBOTS = make_response(200, b"User-agent: *\nAllow: /\n", "text/plain; charset=utf-8")
MEDIA_TYPES = {".jpg": "image/jpeg", ".mp4": "video/mp4"}


def dumps(value: object) -> bytes:
    """Compact UTF-8 JSON, non-ASCII kept as is (as most platforms send it)."""
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": ")).encode("utf-8")


def media_url(media_base: str, name: str) -> str:
    return f"{media_base}/media/{name}"


def post_document(post: Post, media_base: str) -> dict:
    """The JSON object of an archived or deleted post."""
    deleted = post.state == "deleted"
    return {
        "id": post.id, "author": post.author, "created_at": post.created_at,
        "text": None if deleted else post.text, "deleted": deleted,
        "reply_to": post.reply_to, "repost_of": post.repost_of,
        "media": [] if deleted else [
            {"url": media_url(media_base, name), "type": MEDIA_TYPES[Path(name).suffix]}
            for name in post.media],
    }


def malformed_body(post: Post, media_base: str) -> bytes:
    """A body that is not valid JSON: truncated, trailing garbage, or Python-ish quoting."""
    good = dumps(post_document(post, media_base) | {"text": post.text})
    style = post.id % 3
    if style == 0:
        return good[: len(good) // 2]
    if style == 1:
        return good + b"\n<!-- upstream timeout -->"
    return good.replace(b'"', b"'")


def render_post(post: Post, media_base: str) -> Response:
    """What `/api/v1/posts/{id}` answers for a post in its state."""
    if post.state == "missing":
        return NOT_FOUND
    if post.state == "forbidden":
        return make_response(403, b'{"error": "this post is private"}', JSON)
    if post.state == "malformed":
        return make_response(200, malformed_body(post, media_base), JSON)
    return make_response(200, dumps(post_document(post, media_base)), JSON)


def user_document(user: User, media_base: str) -> dict:
    return {"username": user.username, "display_name": user.display_name, "bio": user.bio,
            "joined_at": user.joined_at,
            "avatar": media_url(media_base, user.avatar) if user.avatar else None}


def referenced_media(world: World) -> list[str]:
    """Media names shown by public posts or used as avatars, in first-seen order."""
    names: dict[str, None] = {}
    for post in world.posts:
        if post.state == "archived":
            names.update(dict.fromkeys(post.media))
    names.update(dict.fromkeys(u.avatar for u in world.users if u.avatar))
    return list(names)


def build_truth(world: World, specs: dict[int, MediaSpec], payloads: dict[int, bytes],
                api_base: str, media_base: str) -> dict:
    """The ground truth: every post's state, every referenced media URL's metadata, users."""
    entries = {index: truth_entry(specs[index], payload) for index, payload in payloads.items()}
    return {
        "posts": {str(p.id): p.state for p in world.posts},
        "media": {media_url(media_base, name): entries[world.media_files[name]]
                  for name in referenced_media(world)},
        "users": [u.username for u in world.users],
        "post_media": {str(p.id): [media_url(media_base, n) for n in p.media]
                       for p in world.posts if p.state == "archived"},
        "seed": world.seed, "generator": GENERATOR_VERSION,
        "api": api_base, "media_base": media_base,
    }


def api_routes(world: World, truth: dict, media_base: str) -> dict[str, Response]:
    """Path -> response for everything the API host serves (faults come on top)."""
    routes = {f"/api/v1/posts/{p.id}": render_post(p, media_base) for p in world.posts}
    for user in world.users:
        routes[f"/api/v1/users/{user.username}"] = make_response(
            200, dumps(user_document(user, media_base)), JSON)
    routes["/_truth.json"] = make_response(200, dumps(truth), JSON)
    routes["/robots.txt"] = ROBOTS
    routes["/"] = make_response(200, dumps({
        "platform": "lifeboat demo", "posts": "/api/v1/posts/{id}",
        "users": "/api/v1/users/{username}", "first_id": 1, "last_id": len(world.posts)}), JSON)
    return routes


@dataclass(frozen=True)
class MediaFile:
    """One media URL's payload, its full response and what Range responses need."""

    payload: bytes
    content_type: str
    etag: str
    full: Response


def media_files(world: World, payloads: dict[int, bytes]) -> dict[str, MediaFile]:
    """Path -> media file for every URL the media host serves."""
    files = {}
    for name in referenced_media(world):
        payload = payloads[world.media_files[name]]
        content_type = MEDIA_TYPES[Path(name).suffix]
        etag = '"' + hashlib.sha256(payload).hexdigest()[:32] + '"'
        full = make_response(200, payload, content_type, (
            ("Accept-Ranges", "bytes"), ("ETag", etag),
            ("Cache-Control", "public, max-age=31536000, immutable")))
        files[f"/media/{name}"] = MediaFile(payload, content_type, etag, full)
    return files


def range_response(file: MediaFile, header: str) -> Response:
    """206 for one satisfiable byte range, 416 if unsatisfiable, 200 if not understood."""
    size = len(file.payload)
    unit, _, spec = header.partition("=")
    if unit.strip() != "bytes" or "," in spec:
        return file.full
    first, _, last = spec.strip().partition("-")
    try:
        if first:
            start, end = int(first), min(int(last) if last else size - 1, size - 1)
        else:
            start, end = max(0, size - int(last)), size - 1
    except ValueError:
        return file.full
    if start >= size or start > end:
        return make_response(416, b"", file.content_type, (("Content-Range", f"bytes */{size}"),))
    return make_response(206, file.payload[start:end + 1], file.content_type, (
        ("Accept-Ranges", "bytes"), ("ETag", file.etag),
        ("Content-Range", f"bytes {start}-{end}/{size}")))
