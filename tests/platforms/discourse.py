"""A Discourse forum's JSON routes (``/posts/{id}.json``, ``/t/{id}.json``), anonymously.

From Discourse's ``PostsController#show`` / ``TopicsController#show`` and
``PostSerializer``: post IDs are one sequence across the forum; a post that never
existed or that staff deleted is a 404 ``error_type: not_found``; a post in a private
category or a personal message is a 403 ``error_type: invalid_access``; a post its author
deleted is still served, with ``user_deleted: true`` and the placeholder text. Uploads are
in the ``cooked`` HTML: images as ``<a class="lightbox" href="/uploads/default/original/
...">`` around an optimized ``<img>``, videos as a ``div.video-placeholder-container`` with
``data-video-src``. A topic lists every post ID in ``post_stream.stream`` and embeds the
first 20 in ``post_stream.posts``; ``/latest.json`` pages with ``more_topics_url``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import Expected, PlatformFixture, Reply, Request, json_reply

USERS = {1: ("alice", "Alice"), 2: ("bob", "Bob"), 3: ("carol", "Carol")}
NOT_FOUND = {"errors": ["The requested URL or resource could not be found."],
             "error_type": "not_found"}
INVALID_ACCESS = {"errors": ["You are not permitted to view the requested resource."],
                  "error_type": "invalid_access"}


@dataclass
class Topic:
    id: int
    title: str
    private: bool = False  # private category or personal message


@dataclass
class Post:
    id: int
    topic: int
    user: int
    created_at: str
    raw: str
    images: tuple[str, ...] = ()
    video: str | None = None
    staff_deleted: bool = False
    user_deleted: bool = False


def upload_path(asset: str) -> str:
    """Where Discourse keeps an original upload (1X = first-level sha directory)."""
    stem, ext = asset.rsplit(".", 1)
    return f"/uploads/default/original/1X/{stem}0123456789abcdef{len(stem)}.{ext}"


class DiscourseFixture(PlatformFixture):
    """Ten post IDs over four topics: uploads, a private category, a PM, deletions."""

    profile = "discourse"
    robots = ("User-agent: *\nDisallow: /admin/\nDisallow: /auth/\nDisallow: /email/\n"
              "Disallow: /session\nDisallow: /user-api-key\nDisallow: /*?api_key*\n")

    def setup(self) -> None:
        self.topics = {t.id: t for t in [
            Topic(1, "Photos from the trip"), Topic(2, "Moderators only", private=True),
            Topic(3, "Video of the rally"), Topic(4, "A private message", private=True)]}
        self.posts = {p.id: p for p in [
            Post(1, 1, 1, "2023-05-01T10:15:00.000Z", "Here is the tower", images=("paris.jpg",)),
            Post(2, 1, 2, "2023-05-01T11:00:00.000Z", "Lovely light."),
            Post(3, 2, 1, "2023-05-02T09:00:00.000Z", "Staff discussion"),
            Post(4, 1, 3, "2023-05-02T10:00:00.000Z", "spam spam", staff_deleted=True),
            Post(5, 1, 2, "2023-05-02T11:00:00.000Z", "I take it back", user_deleted=True),
            Post(6, 3, 3, "2023-06-01T19:40:00.000Z", "Filmed this on the steps",
                 video="capitol.mp4"),
            Post(8, 1, 1, "2023-06-02T08:30:00.000Z", "Two more",
                 images=("sydney.jpg", "newyork.jpg")),
            Post(9, 4, 2, "2023-06-03T08:30:00.000Z", "just between us"),
            Post(10, 3, 2, "2023-06-04T08:30:00.000Z", "Where was this?"),
        ]}
        for post in self.posts.values():
            for asset in (*post.images, *([post.video] if post.video else [])):
                self.add_media(upload_path(asset), asset)

    def id_range(self) -> str:
        return "1-10"

    def routes(self) -> list:
        return [(r"/posts/(\d+)\.json", self.get_post), (r"/t/(\d+)\.json", self.get_topic),
                (r"/t/[^/]+/(\d+)\.json", self.get_topic), (r"/latest\.json", self.latest)]

    def not_found(self) -> Reply:
        return json_reply(NOT_FOUND, 404)

    def cooked(self, post: Post) -> str:
        if post.user_deleted:
            return "<p>(post deleted by author)</p>"
        html = f"<p>{post.raw}</p>"
        for asset in post.images:
            original = upload_path(asset)
            optimized = original.replace("/original/", "/optimized/").replace(".", "_2_48x32.", 1)
            html += (f'<p><div class="lightbox-wrapper"><a class="lightbox" href="{original}" '
                     f'data-download-href="/uploads/default/{asset}" title="{asset}">'
                     f'<img src="{optimized}" alt="{asset}" width="48" height="32"></a></div></p>')
        if post.video:
            html += (f'<div class="video-placeholder-container" '
                     f'data-video-src="{upload_path(post.video)}"></div>')
        return html

    def post_json(self, post: Post) -> dict:
        username, name = USERS[post.user]
        topic = self.topics[post.topic]
        number = sorted(p.id for p in self.posts.values() if p.topic == post.topic).index(post.id)
        return {
            "id": post.id, "name": name, "username": username,
            "avatar_template": f"/letter_avatar_proxy/v4/letter/{username[0]}/a/{{size}}.png",
            "created_at": post.created_at, "cooked": self.cooked(post),
            "post_number": number + 1, "post_type": 1, "updated_at": post.created_at,
            "reply_count": 0, "reply_to_post_number": None, "quote_count": 0,
            "incoming_link_count": 0, "reads": 3, "readers_count": 2, "score": 0.4,
            "yours": False, "topic_id": topic.id,
            "topic_slug": topic.title.lower().replace(" ", "-"),
            "display_username": name, "primary_group_name": None, "version": 1,
            "user_id": post.user, "hidden": False, "trust_level": 1, "deleted_at": None,
            "user_deleted": post.user_deleted, "edit_reason": None, "wiki": False,
            "raw": "(post deleted by author)" if post.user_deleted else post.raw,
        }

    def visible(self, post: Post | None) -> Reply | None:
        """The error reply a visitor gets for ``post``, or None when it may be shown."""
        if post is None or post.staff_deleted:
            return json_reply(NOT_FOUND, 404)
        if self.topics[post.topic].private:
            return json_reply(INVALID_ACCESS, 403)
        return None

    def get_post(self, request: Request) -> Reply:
        post = self.posts.get(int(request.match.group(1)))
        return self.visible(post) or json_reply(self.post_json(post))

    def get_topic(self, request: Request) -> Reply:
        topic = self.topics.get(int(request.match.group(1)))
        if topic is None:
            return json_reply(NOT_FOUND, 404)
        if topic.private:
            return json_reply(INVALID_ACCESS, 403)
        posts = [p for p in sorted(self.posts.values(), key=lambda p: p.id)
                 if p.topic == topic.id and not p.staff_deleted]
        first = posts[0]
        return json_reply({
            "post_stream": {"posts": [self.post_json(p) for p in posts[:20]],
                            "stream": [p.id for p in posts]},
            "id": topic.id, "title": topic.title, "fancy_title": topic.title,
            "posts_count": len(posts), "created_at": first.created_at,
            "slug": topic.title.lower().replace(" ", "-"), "category_id": 1,
            "archetype": "regular", "visible": True, "closed": False, "archived": False,
            "details": {"created_by": {"id": first.user, "username": USERS[first.user][0]}},
        })

    def latest(self, request: Request) -> Reply:
        page = int(request.arg("page", "0"))
        public = [t for t in self.topics.values() if not t.private]
        per_page = 2
        chunk = public[page * per_page:(page + 1) * per_page]
        topic_list = {"can_create_topic": False, "per_page": per_page,
                      "topics": [{"id": t.id, "title": t.title} for t in chunk]}
        if (page + 1) * per_page < len(public):
            topic_list["more_topics_url"] = f"/latest?page={page + 1}"
        return json_reply({"users": [], "topic_list": topic_list})

    def expected(self) -> list[Expected]:
        out = []
        for post_id in range(1, 11):
            post = self.posts.get(post_id)
            refusal = self.visible(post)
            if refusal is not None:
                state = "forbidden" if refusal.status == 403 else "missing"
                out.append(Expected("post", str(post_id), state))
            elif post.user_deleted:
                out.append(Expected("post", str(post_id), "deleted", USERS[post.user][0],
                                    post.created_at))
            else:
                assets = (*post.images, *([post.video] if post.video else []))
                out.append(Expected("post", str(post_id), "archived", USERS[post.user][0],
                                    post.created_at, post.raw,
                                    tuple(sorted(self.url(upload_path(a)) for a in assets))))
        # every post served names its topic, which the profile follows
        topics = {self.posts[int(e.id)].topic for e in out if e.state in ("archived", "deleted")}
        return out + [Expected("topic", str(t), "archived") for t in sorted(topics)]
