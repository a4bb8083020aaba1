"""A diaspora* pod's post pages (``/posts/{id}.json``), as diaspora 0.7 answers anonymously.

From ``PostsController#show`` and ``PostPresenter``: post IDs are one numeric sequence
per pod (local and federated posts alike); a public post renders as JSON; a limited
(aspect) post raises ``Diaspora::NonPublic`` and Devise answers a JSON request with 401
``{"error": "You need to sign in or sign up before continuing."}``; a post that never
existed or was deleted is a 404. Photos carry ``sizes.small/medium/large`` URLs under
``/uploads/images/`` (``large`` is the ``scaled_full`` version); a reshare has
``post_type: "Reshare"`` and its original in ``root``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import Expected, PlatformFixture, Reply, Request, html_reply, json_reply

PEOPLE = {1: ("alice", "Alice"), 2: ("bob", "Bob"), 3: ("carol", "Carol")}


@dataclass
class DiasporaPost:
    id: int
    author: int
    created_at: str
    text: str
    public: bool = True
    photos: tuple[str, ...] = ()
    reshare_of: int | None = None


class DiasporaFixture(PlatformFixture):
    """Eight post IDs: photo posts, a limited post, a reshare, a deleted post, gaps."""

    profile = "diaspora"
    robots = "User-agent: *\nDisallow: /people/*/contacts\n"

    def setup(self) -> None:
        self.posts = {p.id: p for p in [
            DiasporaPost(1, 1, "2023-05-01T10:15:00.000Z", "The tower this morning #travel",
                         photos=("paris.jpg",)),
            DiasporaPost(2, 2, "2023-05-02T09:00:00.000Z", "only for my friends aspect",
                         public=False),
            DiasporaPost(3, 2, "2023-05-03T09:00:00.000Z", "Plain words, no photo."),
            DiasporaPost(5, 3, "2023-05-04T09:00:00.000Z", "", reshare_of=1),
            DiasporaPost(6, 1, "2023-06-02T08:30:00.000Z", "Harbour and market",
                         photos=("sydney.jpg", "santiago.jpg")),
            # 7 was deleted by its author: gone from the database, a 404 like 4
            DiasporaPost(8, 3, "2023-07-03T16:45:00.000Z", "Statue from the boat",
                         photos=("newyork.jpg",)),
        ]}
        self.photo_urls: dict[int, list[str]] = {}
        self.original_urls: dict[int, list[str]] = {}
        for post in self.posts.values():
            # diaspora's ProcessedImage: the upload under its own name, resized copies
            # (scaled_full_: at most 700 px wide, here without EXIF) beside it; the API
            # shows only the copies
            self.photo_urls[post.id] = [
                self.add_media(f"/uploads/images/scaled_full_{post.id}{n}{asset}", "nogps.jpg")
                for n, asset in enumerate(post.photos)]
            self.original_urls[post.id] = [
                self.add_media(f"/uploads/images/{post.id}{n}{asset}", asset)
                for n, asset in enumerate(post.photos)]

    def id_range(self) -> str:
        return "1-8"

    def routes(self) -> list:
        return [(r"/posts/(\d+)\.json", self.get_post)]

    def not_found(self) -> Reply:
        return html_reply("<h1>The page you were looking for doesn't exist.</h1>", 404)

    def person(self, person_id: int) -> dict:
        name, display = PEOPLE[person_id]
        return {"id": person_id, "guid": f"guid-{name}", "name": display,
                "diaspora_id": f"{name}@{self.host}",
                "avatar": {"small": self.url("/assets/user/default.png"),
                           "medium": self.url("/assets/user/default.png"),
                           "large": self.url("/assets/user/default.png")}}

    def post_json(self, post: DiasporaPost) -> dict:
        photos = [{"guid": f"photo-{post.id}-{n}", "created_at": post.created_at,
                   "author": self.person(post.author),
                   "dimensions": {"height": 32, "width": 48},
                   "sizes": {"small": url.replace("scaled_full_", "thumb_small_"),
                             "medium": url.replace("scaled_full_", "thumb_medium_"),
                             "large": url}}
                  for n, url in enumerate(self.photo_urls[post.id])]
        root = self.post_json(self.posts[post.reshare_of]) if post.reshare_of else None
        return {
            "id": post.id, "guid": f"{post.id:032x}", "text": post.text, "public": post.public,
            "created_at": post.created_at, "interacted_at": post.created_at,
            "provider_display_name": None,
            "post_type": "Reshare" if post.reshare_of else "StatusMessage",
            "image_url": None, "object_url": None, "nsfw": False,
            "author": self.person(post.author), "o_embed_cache": None,
            "open_graph_cache": None, "mentioned_people": [], "photos": photos,
            "root": root, "title": post.text[:20], "location": None, "poll": None,
            "poll_participation_answer_id": None,
            "interactions": {"likes": [], "reshares": [], "comments_count": 0,
                             "likes_count": 0, "reshares_count": 0},
        }

    def get_post(self, request: Request) -> Reply:
        post = self.posts.get(int(request.match.group(1)))
        if post is None:
            return self.not_found()
        if not post.public:
            return json_reply({"error": "You need to sign in or sign up before continuing."},
                              401)
        return json_reply(self.post_json(post))

    def expected(self) -> list[Expected]:
        out = []
        for post_id in range(1, 9):
            post = self.posts.get(post_id)
            if post is None:
                out.append(Expected("post", str(post_id), "missing"))
            elif not post.public:
                out.append(Expected("post", str(post_id), "forbidden"))
            else:
                name = PEOPLE[post.author][0]
                out.append(Expected("post", str(post_id), "archived",
                                    f"{name}@{self.host}", post.created_at,
                                    post.text or None, tuple(sorted(
                                        self.photo_urls[post_id] +
                                        self.original_urls[post_id]))))
        return out
