"""A Lemmy instance's HTTP API v3 (``/api/v3/post?id=N``), as Lemmy 0.19 answers anonymously.

Shapes follow lemmy-js-client's ``GetPostResponse`` / ``PostView``: a missing post is a
404 ``{"error": "not_found"}`` (diesel's NotFound), a post deleted by its author or
removed by a moderator is still served, flagged ``deleted`` / ``removed`` and with its
title, URL and body blanked for visitors. Image and video posts point ``post.url`` at the
instance's pict-rs (``/pictrs/image/<uuid>.<ext>``) with ``url_content_type``; a link
post keeps its outside URL and has a pict-rs ``thumbnail_url``. Lemmy has no per-post
privacy. ``/api/v3/post/list`` paginates with ``page`` and ``limit``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import Expected, PlatformFixture, Reply, Request, json_reply

PEOPLE = {1: "alice", 2: "bob", 3: "carol"}
COMMUNITY = {"id": 1, "name": "photography", "title": "Photography", "removed": False,
             "deleted": False, "nsfw": False, "local": True, "hidden": False,
             "posting_restricted_to_mods": False, "instance_id": 1, "visibility": "Public"}


@dataclass
class LemmyPost:
    """One row of the post table."""

    id: int
    creator: int
    published: str
    name: str
    body: str | None = None
    asset: str | None = None  # a pict-rs upload as post.url
    link: str | None = None  # an outside link; thumbnail from ``asset``
    deleted: bool = False
    removed: bool = False


class LemmyFixture(PlatformFixture):
    """Ten post IDs: text, image, video and link posts, deleted, removed and gaps."""

    profile = "lemmy"
    robots = "User-Agent: *\nDisallow: /login\nDisallow: /settings\nDisallow: /create_community\n"

    def setup(self) -> None:
        self.posts = {p.id: p for p in [
            LemmyPost(1, 1, "2023-05-01T10:15:00.123456Z", "Hello photographers",
                      body="First post, no picture."),
            # Lemmy 0.18 and older: UTC without an offset
            LemmyPost(2, 1, "2023-05-01T11:00:00.000000", "Tower at dawn", asset="paris.jpg"),
            LemmyPost(3, 2, "2023-05-02T09:00:00.000000Z", "Regretted", body="oops",
                      deleted=True),
            LemmyPost(4, 3, "2023-05-03T09:00:00.000000Z", "Spam", body="buy now",
                      asset="nogps.jpg", removed=True),
            LemmyPost(6, 2, "2023-06-02T08:30:00.000000Z", "Opera house", asset="sydney.jpg",
                      body="Shot from the ferry."),
            LemmyPost(7, 3, "2023-08-04T12:00:00.000000Z", "A long read",
                      link="https://example.org/article", asset="santiago.jpg"),
            LemmyPost(8, 1, "2023-09-01T19:40:00.000000Z", "Crowd on the steps",
                      asset="capitol.mp4"),
            LemmyPost(10, 3, "2023-10-01T07:00:00.000000Z", "Meta thread", body="Rules?"),
        ]}
        self.uploads = {}
        for post in self.posts.values():
            if post.asset:
                path = f"/pictrs/image/{post.id:08d}-aaaa-bbbb-cccc-{post.asset.replace('.', '')}" \
                       f".{'mp4' if post.asset.endswith('mp4') else 'jpeg'}"
                self.uploads[post.id] = self.add_media(path, post.asset)

    def id_range(self) -> str:
        return "1-10"

    def routes(self) -> list:
        return [(r"/api/v3/post", self.get_post), (r"/api/v3/post/list", self.list_posts)]

    def not_found(self) -> Reply:
        return json_reply({"error": "not_found"}, 404)

    def person(self, person_id: int) -> dict:
        name = PEOPLE[person_id]
        return {"id": person_id, "name": name, "display_name": name.title(), "avatar": None,
                "banned": False, "published": "2023-01-01T00:00:00Z",
                "actor_id": self.url(f"/u/{name}"), "local": True, "deleted": False,
                "bot_account": False, "instance_id": 1}

    def post_view(self, post: LemmyPost) -> dict:
        upload = self.uploads.get(post.id)
        blank = post.deleted or post.removed
        kind = "video/mp4" if post.asset and post.asset.endswith("mp4") else "image/jpeg"
        row = {
            "id": post.id, "name": "" if blank else post.name,
            "url": None if blank else (post.link or upload),
            "body": None if blank else post.body, "creator_id": post.creator,
            "community_id": 1, "removed": post.removed, "locked": False,
            "published": post.published, "updated": None, "deleted": post.deleted,
            "nsfw": False, "embed_title": None, "embed_description": None,
            "thumbnail_url": None if blank else (upload if post.link else None),
            "ap_id": self.url(f"/post/{post.id}"), "local": True, "embed_video_url": None,
            "language_id": 0, "featured_community": False, "featured_local": False,
            "url_content_type": None if blank or not upload else
            ("text/html" if post.link else kind),
            "alt_text": None,
        }
        return {"post": row, "creator": self.person(post.creator), "community": COMMUNITY,
                "image_details": None, "creator_banned_from_community": False,
                "banned_from_community": False, "creator_is_moderator": False,
                "creator_is_admin": False,
                "counts": {"post_id": post.id, "comments": 0, "score": 1, "upvotes": 1,
                           "downvotes": 0, "published": post.published,
                           "newest_comment_time": post.published},
                "subscribed": "NotSubscribed", "saved": False, "read": False, "hidden": False,
                "creator_blocked": False, "my_vote": None, "unread_comments": 0}

    def get_post(self, request: Request) -> Reply:
        post = self.posts.get(int(request.arg("id") or 0))
        if post is None:
            return self.not_found()
        return json_reply({"post_view": self.post_view(post),
                           "community_view": {"community": COMMUNITY,
                                              "subscribed": "NotSubscribed", "blocked": False,
                                              "counts": {"community_id": 1, "posts": 8}},
                           "moderators": [], "cross_posts": []})

    def list_posts(self, request: Request) -> Reply:
        page, limit = int(request.arg("page", "1")), int(request.arg("limit", "10"))
        visible = sorted((p for p in self.posts.values() if not (p.deleted or p.removed)),
                         key=lambda p: p.published, reverse=True)
        chunk = visible[(page - 1) * limit: page * limit]
        return json_reply({"posts": [self.post_view(p) for p in chunk],
                           "next_page": None if page * limit >= len(visible) else f"Pa{page + 1}"})

    def expected(self) -> list[Expected]:
        out = []
        for post_id in range(1, 11):
            post = self.posts.get(post_id)
            if post is None:
                out.append(Expected("post", str(post_id), "missing"))
                continue
            # times without an offset are UTC on Lemmy (the profile's timezone)
            published = post.published if post.published.endswith("Z") else post.published + "Z"
            if post.deleted or post.removed:
                out.append(Expected("post", str(post_id), "deleted", PEOPLE[post.creator],
                                    published))
            else:
                media = (self.uploads[post_id],) if post_id in self.uploads else ()
                out.append(Expected("post", str(post_id), "archived", PEOPLE[post.creator],
                                    published, post.name, media))
        return out
