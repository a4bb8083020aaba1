"""An Elgg site's entity pages (``/blog/view/{guid}``, ``/file/view/{guid}``), as Elgg 5 shows them.

Every entity (site, users, blogs, files) takes the next GUID. The ``view:object:blog`` and
``view:object:file`` routes call the entity gatekeeper: a GUID that does not exist, is
of another subtype, or was deleted (trash) raises ``EntityNotFoundException``, a 404
page; an entity the visitor may not see (private or logged-in-only access) raises
``EntityPermissionsException``, a 403 page. Full views show the title in
``h2.elgg-heading-main``, the owner in ``.elgg-listing-owner a``, the time in
``.elgg-listing-time time[datetime]``, the body in ``.elgg-output``; a file page links
its original through ``/serve-file/...`` and plays videos in ``<video><source>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .base import Expected, PlatformFixture, Reply, Request, html_reply

ACCESS_PRIVATE, ACCESS_LOGGED_IN, ACCESS_PUBLIC = 0, 1, 2
USERS = {2: ("alice", "Alice"), 3: ("bob", "Bob")}


@dataclass
class Entity:
    guid: int
    subtype: str  # site | user | blog | file
    owner: int = 0
    created: str = ""
    title: str = ""
    body: str = ""
    access: int = ACCESS_PUBLIC
    deleted: bool = False
    asset: str | None = None  # files: the uploaded file
    links: tuple[int, ...] = ()  # other entities linked (or embedded) in the body
    shown: str = ""  # the body as a reader sees it, when ``body`` holds markup


def page(title: str, content: str) -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title} : '
            f'Lifeboat Community</title></head><body class="elgg-page elgg-page-default">'
            f'<div class="elgg-page-topbar"><a href="/login" class="elgg-menu-content">Log in</a>'
            f'</div><div class="elgg-page-body"><div class="elgg-layout">{content}</div></div>'
            f'</body></html>')


class ElggFixture(PlatformFixture):
    """Twelve GUIDs: site, users, blogs and files with every access level."""

    profile = "elgg"
    robots = "User-agent: *\nDisallow: /action/\nDisallow: /cache/\n"

    def setup(self) -> None:
        self.entities = {e.guid: e for e in [
            Entity(1, "site"), Entity(2, "user"), Entity(3, "user"),
            Entity(4, "blog", 2, "2023-05-01T10:15:00+00:00", "Tower at dawn",
                   '<style>.elgg-output em {color: red}</style>We climbed before the '
                   '<em>crowds</em>, at <a href="/tags/dawn">dawn</a>.', links=(5,),
                   shown="We climbed before the crowds, at dawn."),
            Entity(5, "file", 2, "2023-05-01T10:10:00+00:00", "paris", "The view",
                   asset="paris.jpg"),
            Entity(6, "blog", 2, "2023-05-02T09:00:00+00:00", "Diary", "private",
                   access=ACCESS_PRIVATE),
            Entity(7, "file", 3, "2023-05-03T09:00:00+00:00", "sydney", "mine",
                   access=ACCESS_PRIVATE, asset="sydney.jpg"),
            Entity(8, "blog", 3, "2023-05-04T09:00:00+00:00", "Old news", "binned",
                   deleted=True),
            Entity(9, "file", 3, "2023-06-01T19:40:00+00:00", "steps", "Filmed on the steps",
                   asset="capitol.mp4"),
            Entity(10, "blog", 3, "2023-06-02T08:30:00+00:00", "Statue trip",
                   "Photos are in my files.", links=(11,)),
            Entity(11, "file", 3, "2023-06-02T08:20:00+00:00", "statue", "From the boat",
                   asset="newyork.jpg"),
            Entity(12, "file", 2, "2023-06-03T08:20:00+00:00", "members", "Members only",
                   access=ACCESS_LOGGED_IN, asset="santiago.jpg"),
        ]}
        self.originals: dict[int, str] = {}
        for entity in self.entities.values():
            if entity.asset:
                stamp = int(datetime.fromisoformat(entity.created).timestamp())
                path = (f"/serve-file/e0/l{stamp}/di/c0/AbCdEf{entity.guid}/"
                        f"{entity.owner}/{entity.guid}/file/{entity.asset}")
                self.originals[entity.guid] = self.add_media(path, entity.asset)
                self.add_media(f"/serve-file/e0/l{stamp}/di/c0/Icon{entity.guid}/large.jpg",
                               "nogps.jpg")

    def id_range(self) -> str:
        return "1-12"

    def routes(self) -> list:
        return [(r"/blog/view/(\d+)(?:/[^/]*)?", self.view("blog")),
                (r"/file/view/(\d+)(?:/[^/]*)?", self.view("file"))]

    def not_found(self) -> Reply:
        return html_reply(page("Not found", '<div class="elgg-head"><h2 class="elgg-heading-main">'
                               'Page not found</h2></div><p>The requested content cannot be '
                               'found or you do not have access to it.</p>'), 404)

    def forbidden(self) -> Reply:
        return html_reply(page("Forbidden", '<div class="elgg-head"><h2 class="elgg-heading-main">'
                               'Forbidden</h2></div><p>You do not have access to this '
                               'content.</p>'), 403)

    def entity_url(self, entity: Entity) -> str:
        return f"/{entity.subtype}/view/{entity.guid}/{entity.title.lower().replace(' ', '-')}"

    def full_view(self, entity: Entity) -> str:
        name, display = USERS[entity.owner]
        body = f"<p>{entity.body}</p>"
        for guid in entity.links:
            linked = self.entities[guid]
            body += (f'<p><a href="{self.entity_url(linked)}"><img src="{self.originals[guid]}" '
                     f'alt="{linked.title}"></a></p>')
        extra = ""
        if entity.asset and entity.asset.endswith(".mp4"):
            extra = (f'<div class="elgg-file-video"><video controls width="64">'
                     f'<source src="{self.originals[entity.guid]}" type="video/mp4"></video></div>')
        elif entity.asset:
            icon = next(p for p in self.media if p.endswith(f"Icon{entity.guid}/large.jpg"))
            extra = (f'<div class="file-photo"><img class="elgg-photo" src="{icon}"></div>'
                     f'<a class="elgg-button elgg-button-action elgg-file-download" '
                     f'href="{self.originals[entity.guid]}">Download</a>')
        stamp = datetime.fromisoformat(entity.created)
        return page(entity.title, (
            f'<div class="elgg-head"><h2 class="elgg-heading-main">{entity.title}</h2></div>'
            f'<div class="elgg-listing-full elgg-entity-full elgg-content" '
            f'data-guid="{entity.guid}">'
            f'<div class="elgg-listing-full-header"><div class="elgg-listing-summary-subtitle '
            f'elgg-subtext"><span class="elgg-listing-byline"><span class="elgg-listing-owner">'
            f'By <a href="/profile/{name}" class="elgg-anchor">{display}</a></span></span> '
            f'<span class="elgg-listing-time"><time datetime="{entity.created}" '
            f'title="{stamp:%d %B %Y @ %H:%M}">{stamp:%d %B %Y}</time></span></div></div>'
            f'<div class="elgg-listing-full-body"><div class="elgg-output">{body}</div>{extra}'
            f'</div></div>'))

    def refusal(self, entity: Entity | None, subtype: str) -> Reply | None:
        if entity is None or entity.subtype != subtype or entity.deleted:
            return self.not_found()
        if entity.access != ACCESS_PUBLIC:
            return self.forbidden()
        return None

    def view(self, subtype: str):
        def handler(request: Request) -> Reply:
            entity = self.entities.get(int(request.match.group(1)))
            return self.refusal(entity, subtype) or html_reply(self.full_view(entity))
        return handler

    def expected(self) -> list[Expected]:
        out = []
        for subtype in ("blog", "file"):
            for guid in range(1, 13):
                entity = self.entities.get(guid)
                refusal = self.refusal(entity, subtype)
                if refusal is not None:
                    state = "forbidden" if refusal.status == 403 else "missing"
                    out.append(Expected(subtype, str(guid), state))
                    continue
                media = {self.originals[g] for g in entity.links}
                if entity.asset:
                    media.add(self.originals[guid])
                out.append(Expected(subtype, str(guid), "archived", USERS[entity.owner][1],
                                    entity.created,
                                    f"{entity.title}\n\n{entity.shown or entity.body}",
                                    tuple(sorted(media))))
        return out
