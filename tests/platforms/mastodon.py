"""A Mastodon server's REST API, as Mastodon 4 answers without a token.

From the Mastodon API docs (``GET /api/v1/statuses/:id``, ``GET /api/v1/timelines/public``)
and ``Api::V1::StatusesController``: status IDs are Snowflake-like (milliseconds << 16),
so they cannot be walked as a range; the public local timeline lists public statuses
newest first, pages with ``max_id`` / ``limit`` and a ``Link`` header, and answers an
empty array past the end. A private (followers-only) or direct status is indistinguishable
from a deleted one: ``authorize @status, :show?`` fails and the controller answers 404
``{"error": "Record not found"}``. Unlisted statuses are not on the timeline but are
served by ID. Attachments are under ``/system/media_attachments/files/.../original/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .base import Expected, PlatformFixture, Reply, Request, json_reply

ACCOUNTS = {1: ("alice", "Alice"), 2: ("bob", "Bob"), 3: ("carol", "Carol")}
FIRST_PAGE = "9223372036854775807"  # the largest bigint: max_id for the newest page


@dataclass
class Status:
    n: int
    account: int
    created_at: str
    text: str
    visibility: str = "public"  # public | unlisted | private | direct
    deleted: bool = False
    reply_to: int | None = None  # n of the status replied to
    asset: str | None = None
    html: str | None = None  # the content as served, when it holds more than <p>text</p>

    @property
    def id(self) -> str:
        millis = int(datetime.fromisoformat(self.created_at.replace("Z", "+00:00"))
                     .timestamp() * 1000)
        return str((millis << 16) + self.n)


class MastodonFixture(PlatformFixture):
    """Eight statuses: public on the timeline, unlisted and private ones reached by replies."""

    profile = "mastodon"
    robots = "User-agent: *\nDisallow: /media_proxy/\nDisallow: /interact/\n"

    def setup(self) -> None:
        self.statuses = {s.n: s for s in [
            Status(1, 1, "2023-05-01T10:15:00.000Z", "Tower at dawn, seen from Trocadéro.",
                   asset="paris.jpg",
                   html='<style>.h-card {color: red}</style><p>Tower at <em>dawn</em>, seen '
                        'from <span class="h-card">Trocadéro</span>.</p>'),
            Status(2, 2, "2023-05-01T12:00:00.000Z", "followers only", visibility="private"),
            Status(3, 2, "2023-05-01T13:00:00.000Z", "Replying to myself", reply_to=2),
            Status(4, 3, "2023-05-02T19:40:00.000Z", "On the steps", asset="capitol.mp4"),
            Status(5, 1, "2023-05-03T08:30:00.000Z", "Quiet harbour", visibility="unlisted",
                   asset="sydney.jpg"),
            Status(6, 2, "2023-05-03T12:00:00.000Z", "Lovely", reply_to=5),
            Status(7, 1, "2023-05-04T12:00:00.000Z", "deleted later", deleted=True),
            Status(8, 3, "2023-05-05T16:45:00.000Z", "Statue", reply_to=7, asset="newyork.jpg"),
        ]}
        self.by_id = {s.id: s for s in self.statuses.values()}
        self.attachments: dict[int, str] = {}
        for status in self.statuses.values():
            if status.asset:
                path = (f"/system/media_attachments/files/110/000/000/{status.n:03d}/original/"
                        f"{status.asset.replace('.', 'a1b2c3.')}")
                self.attachments[status.n] = self.add_media(path, status.asset)

    def variables(self) -> dict[str, str]:
        return {"instance": self.base, "media": self.base, "limit": "2"}

    def routes(self) -> list:
        return [(r"/api/v1/statuses/(\d+)", self.get_status),
                (r"/api/v1/timelines/public", self.public_timeline)]

    def not_found(self) -> Reply:
        return json_reply({"error": "Record not found"}, 404)

    def shown(self, status: Status | None) -> bool:
        return status is not None and not status.deleted \
            and status.visibility in ("public", "unlisted")

    def status_json(self, status: Status) -> dict:
        name, display = ACCOUNTS[status.account]
        reply = self.statuses.get(status.reply_to) if status.reply_to else None
        media = []
        if status.asset:
            url = self.attachments[status.n]
            media.append({"id": str(status.n), "type": "video" if url.endswith(".mp4") else "image",
                          "url": url, "preview_url": url, "remote_url": None,
                          "preview_remote_url": None, "text_url": None,
                          "meta": {"original": {"width": 48, "height": 32}},
                          "description": None, "blurhash": "UBL_:rOpGG-oBUNG,qRj2so|=eE1w^n4S5NH"})
        return {
            "id": status.id, "created_at": status.created_at,
            "in_reply_to_id": reply.id if reply else None,
            "in_reply_to_account_id": str(reply.account) if reply else None,
            "sensitive": False, "spoiler_text": "", "visibility": status.visibility,
            "language": "en", "uri": self.url(f"/users/{name}/statuses/{status.id}"),
            "url": self.url(f"/@{name}/{status.id}"), "replies_count": 0,
            "reblogs_count": 0, "favourites_count": 0, "edited_at": None,
            "content": status.html or f"<p>{status.text}</p>", "reblog": None, "application": None,
            "account": {"id": str(status.account), "username": name, "acct": name,
                        "display_name": display, "locked": False, "bot": False,
                        "created_at": "2023-01-01T00:00:00.000Z", "note": "",
                        "url": self.url(f"/@{name}"),
                        "avatar": self.url("/avatars/original/missing.png"),
                        "followers_count": 1, "following_count": 1, "statuses_count": 3},
            "media_attachments": media, "mentions": [], "tags": [], "emojis": [],
            "card": None, "poll": None,
        }

    def get_status(self, request: Request) -> Reply:
        status = self.by_id.get(request.match.group(1))
        return json_reply(self.status_json(status)) if self.shown(status) else self.not_found()

    def timeline(self) -> list[Status]:
        return sorted((s for s in self.statuses.values()
                       if not s.deleted and s.visibility == "public"),
                      key=lambda s: int(s.id), reverse=True)

    def public_timeline(self, request: Request) -> Reply:
        limit = min(int(request.arg("limit", "20")), 40)
        max_id = int(request.arg("max_id") or FIRST_PAGE)
        page = [s for s in self.timeline() if int(s.id) < max_id][:limit]
        headers = {}
        if page:
            next_url = self.url(f"/api/v1/timelines/public?local=true&limit={limit}"
                                f"&max_id={page[-1].id}")
            prev_url = self.url(f"/api/v1/timelines/public?local=true&limit={limit}"
                                f"&min_id={page[0].id}")
            headers["Link"] = f'<{next_url}>; rel="next", <{prev_url}>; rel="prev"'
        return json_reply([self.status_json(s) for s in page], headers=headers)

    def expected(self) -> list[Expected]:
        limit = int(self.variables()["limit"])
        timeline = self.timeline()
        # every non-empty page names the next by its last status; the last one is empty
        pages = [FIRST_PAGE] + [timeline[min(i + limit, len(timeline)) - 1].id
                                for i in range(0, len(timeline), limit)]
        out = [Expected("timeline", page, "archived") for page in pages]
        reached = {s.n for s in timeline}
        reached |= {s.reply_to for s in timeline if s.reply_to}
        for n in sorted(reached):
            status = self.statuses[n]
            if not self.shown(status):
                out.append(Expected("status", status.id, "missing"))
            else:
                media = (self.attachments[n],) if n in self.attachments else ()
                out.append(Expected("status", status.id, "archived", ACCOUNTS[status.account][0],
                                    status.created_at, status.text, media))
        return out
