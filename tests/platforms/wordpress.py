"""A WordPress site's REST API (``/wp-json/wp/v2/``), as WordPress 6 answers anonymously.

Shapes follow the REST API handbook and ``WP_REST_Posts_Controller``: posts, pages and
attachments share one ID sequence, so ``/posts/{id}`` answers 404
``rest_post_invalid_id`` for an attachment or a page; private, draft and trashed posts
answer 401 ``rest_forbidden`` to a visitor; ``?_embed`` adds ``_embedded.author`` and
``_embedded["wp:featuredmedia"]``; lists paginate with ``page``/``per_page`` and the
``X-WP-Total`` / ``X-WP-TotalPages`` headers, and a page past the end is a 400.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import Expected, PlatformFixture, Reply, Request, json_reply

USERS = {1: ("alice", "Alice Martin"), 2: ("bob", "Bob Okafor")}
UPLOADS = "/wp-content/uploads/2023/05/"


@dataclass
class Entry:
    """One row of wp_posts."""

    id: int
    type: str  # post | page | attachment
    status: str  # publish | private | draft | trash | inherit
    author: int
    date_gmt: str
    title: str = ""
    content: str = ""
    featured_media: int = 0
    asset: str | None = None  # attachments: the file
    password: bool = False
    inline: tuple[int, ...] = ()  # attachments shown inside the content


class WordPressFixture(PlatformFixture):
    """A small blog: public posts with featured and inline images, and the hidden kinds."""

    profile = "wordpress"
    robots = "User-agent: *\nDisallow: /wp-admin/\nAllow: /wp-admin/admin-ajax.php\n"

    def setup(self) -> None:
        self.entries = {e.id: e for e in [
            Entry(1, "post", "publish", 1, "2023-05-01T10:15:00", "Eiffel tower at dawn",
                  "<p>Went up early.</p>", featured_media=2, inline=(2,)),
            Entry(2, "attachment", "inherit", 1, "2023-05-01T10:14:00", "paris", asset="paris.jpg"),
            Entry(3, "post", "publish", 2, "2023-05-02T08:00:00", "Notes on the harbour",
                  "<p>No pictures today, only words.</p>"),
            Entry(4, "post", "private", 1, "2023-05-03T09:00:00", "Private diary", "<p>secret</p>"),
            Entry(5, "post", "draft", 2, "2023-05-04T09:00:00", "Draft", "<p>unfinished</p>"),
            Entry(6, "post", "trash", 2, "2023-05-05T09:00:00", "Trashed", "<p>gone</p>"),
            # 7: permanently deleted, nothing left
            Entry(8, "page", "publish", 1, "2023-05-06T09:00:00", "About", "<p>About us</p>"),
            Entry(9, "post", "publish", 2, "2023-06-02T08:30:00", "Two cities",
                  "<p>Sydney then New York.</p>", featured_media=10, inline=(11,)),
            Entry(10, "attachment", "inherit", 2, "2023-06-02T08:29:00", "sydney",
                  asset="sydney.jpg"),
            Entry(11, "attachment", "inherit", 2, "2023-06-02T08:29:30", "newyork",
                  asset="newyork.jpg"),
            Entry(12, "post", "publish", 1, "2023-06-10T12:00:00", "Members only",
                  "<p>protected body</p>", password=True),
        ]}
        for entry in self.entries.values():
            if entry.asset:
                self.add_media(UPLOADS + entry.asset, entry.asset)

    def id_range(self) -> str:
        return "1-12"

    def routes(self) -> list:
        return [
            (r"/wp-json/wp/v2/posts/(\d+)", self.single("post")),
            (r"/wp-json/wp/v2/pages/(\d+)", self.single("page")),
            (r"/wp-json/wp/v2/media/(\d+)", self.single("attachment")),
            (r"/wp-json/wp/v2/posts", self.listing),
            (r"/wp-json/wp/v2/users/(\d+)", self.user),
        ]

    # -- rendering ------------------------------------------------------------------------
    def media_url(self, entry: Entry) -> str:
        return self.url(UPLOADS + (entry.asset or ""))

    def content(self, entry: Entry) -> str:
        """The rendered content: the text, then each inline image in a figure."""
        return entry.content + "".join(
            f'<figure class="wp-block-image"><img src="{self.media_url(self.entries[i])}" '
            f'class="wp-image-{i}"/></figure>' for i in entry.inline)

    def render(self, entry: Entry, embed: bool) -> dict:
        kind = {"post": "posts", "page": "pages", "attachment": "media"}[entry.type]
        data = {
            "id": entry.id, "date": entry.date_gmt, "date_gmt": entry.date_gmt,
            "guid": {"rendered": self.url(f"/?p={entry.id}")},
            "modified": entry.date_gmt, "modified_gmt": entry.date_gmt,
            "slug": entry.title.lower().replace(" ", "-"), "status": entry.status,
            "type": entry.type, "link": self.url(f"/?p={entry.id}"),
            "title": {"rendered": entry.title}, "author": entry.author,
            "comment_status": "open", "ping_status": "open", "meta": [],
            "_links": {"self": [{"href": self.url(f"/wp-json/wp/v2/{kind}/{entry.id}")}],
                       "author": [{"embeddable": True,
                                   "href": self.url(f"/wp-json/wp/v2/users/{entry.author}")}]},
        }
        if entry.type == "attachment":
            data |= {"media_type": "image", "mime_type": "image/jpeg",
                     "source_url": self.media_url(entry), "alt_text": "",
                     "media_details": {"width": 48, "height": 32, "file": entry.asset,
                                       "sizes": {}}}
        else:
            data |= {"content": {"rendered": "" if entry.password else self.content(entry),
                                 "protected": entry.password},
                     "excerpt": {"rendered": "", "protected": entry.password},
                     "featured_media": entry.featured_media, "sticky": False,
                     "format": "standard", "categories": [1], "tags": []}
        if embed:
            data["_embedded"] = {"author": [self.user_json(entry.author)]}
            if entry.featured_media:
                data["_embedded"]["wp:featuredmedia"] = [
                    self.render(self.entries[entry.featured_media], embed=False)]
        return data

    def user_json(self, user_id: int) -> dict:
        slug, name = USERS[user_id]
        return {"id": user_id, "name": name, "url": "", "description": "", "slug": slug,
                "link": self.url(f"/author/{slug}/"), "avatar_urls": {}}

    # -- handlers -------------------------------------------------------------------------
    def single(self, wanted: str):
        def handler(request: Request) -> Reply:
            entry = self.entries.get(int(request.match.group(1)))
            if entry is None or entry.type != wanted:
                return json_reply({"code": "rest_post_invalid_id", "message": "Invalid post ID.",
                                   "data": {"status": 404}}, 404)
            if entry.status not in ("publish", "inherit"):
                return json_reply({"code": "rest_forbidden",
                                   "message": "Sorry, you are not allowed to do that.",
                                   "data": {"status": 401}}, 401)
            return json_reply(self.render(entry, embed=request.arg("_embed") is not None))
        return handler

    def listing(self, request: Request) -> Reply:
        page, per_page = int(request.arg("page", "1")), int(request.arg("per_page", "10"))
        public = sorted((e for e in self.entries.values()
                         if e.type == "post" and e.status == "publish"),
                        key=lambda e: e.date_gmt, reverse=True)
        pages = max(1, -(-len(public) // per_page))
        if page > pages:
            return json_reply({"code": "rest_post_invalid_page_number",
                               "message": "The page number requested is larger than the number "
                                          "of pages available.", "data": {"status": 400}}, 400)
        chunk = public[(page - 1) * per_page: page * per_page]
        return json_reply([self.render(e, embed=request.arg("_embed") is not None)
                           for e in chunk],
                          headers={"X-WP-Total": str(len(public)),
                                   "X-WP-TotalPages": str(pages)})

    def user(self, request: Request) -> Reply:
        user_id = int(request.match.group(1))
        if user_id not in USERS:
            return json_reply({"code": "rest_user_invalid_id", "message": "Invalid user ID.",
                               "data": {"status": 404}}, 404)
        return json_reply(self.user_json(user_id))

    # -- what the crawl must find ------------------------------------------------------------
    def expected(self) -> list[Expected]:
        out = []
        for post_id in range(1, 13):
            entry = self.entries.get(post_id)
            if entry is None or entry.type != "post":
                out.append(Expected("post", str(post_id), "missing"))
            elif entry.status != "publish":
                out.append(Expected("post", str(post_id), "forbidden"))
            else:
                shown = (entry.featured_media, *(() if entry.password else entry.inline))
                media = {self.media_url(self.entries[i]) for i in shown if i}
                out.append(Expected("post", str(post_id), "archived", USERS[entry.author][1],
                                    entry.date_gmt, entry.title, tuple(sorted(media))))
        return out
