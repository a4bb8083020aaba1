"""A PeerTube instance's REST API (``/api/v1/videos/{id}``), as PeerTube 6 answers anonymously.

From the PeerTube OpenAPI reference and ``checkCanSeeVideo``: public and unlisted videos
are served to anyone; a private or internal video needs an OAuth token, so a visitor
gets 401 (``application/problem+json``); a missing or deleted video is a 404 problem
document ("Video not found"). Files: web videos in ``files[].fileUrl``
(``/static/web-videos/<uuid>-<res>.mp4``) and, for HLS-only videos, fragmented MP4s in
``streamingPlaylists[].files[].fileUrl``. ``/api/v1/videos`` pages with ``start`` and
``count`` and reports ``total``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .base import Expected, PlatformFixture, Reply, Request, json_reply

ACCOUNTS = {1: ("alice", "Alice"), 2: ("bob", "Bob")}
PRIVACY = {1: "Public", 2: "Unlisted", 3: "Private", 4: "Internal"}
PROBLEM = "application/problem+json; charset=utf-8"


@dataclass
class Video:
    id: int
    account: int
    published: str
    name: str
    privacy: int = 1
    asset: str = "capitol.mp4"
    hls_only: bool = False

    @property
    def uuid(self) -> str:
        return f"9c9de5e8-0a1e-484a-b099-{self.id:012d}"


def problem(status: int, title: str, detail: str) -> Reply:
    return json_reply({"type": "about:blank", "title": title, "status": status, "detail": detail,
                       "docs": "https://docs.joinpeertube.org/api-rest-reference.html"},
                      status, content_type=PROBLEM)


class PeerTubeFixture(PlatformFixture):
    """Eight video IDs: web-video and HLS-only files, unlisted, private, internal, gaps."""

    profile = "peertube"
    robots = "User-agent: *\nDisallow: /about/\n"

    def setup(self) -> None:
        self.videos = {v.id: v for v in [
            Video(1, 1, "2021-01-06T19:40:00.000Z", "On the steps"),
            Video(2, 2, "2021-01-07T10:00:00.000Z", "Private rehearsal", privacy=3),
            Video(3, 1, "2021-01-08T11:00:00.000Z", "Unlisted walk", privacy=2),
            Video(4, 2, "2021-01-09T12:00:00.000Z", "Streaming only", hls_only=True),
            Video(6, 1, "2021-01-10T12:00:00.000Z", "Staff meeting", privacy=4),
            Video(8, 2, "2021-01-11T12:00:00.000Z", "Crowd, second angle"),
        ]}
        self.files: dict[int, str] = {}
        for video in self.videos.values():
            if video.hls_only:
                path = (f"/static/streaming-playlists/hls/{video.uuid}/"
                        f"{video.uuid}-240-fragmented.mp4")
            else:
                path = f"/static/web-videos/{video.uuid}-240.mp4"
            self.files[video.id] = self.add_media(path, video.asset)
            self.add_media(f"/lazy-static/thumbnails/{video.uuid}.jpg", "nogps.jpg")

    def id_range(self) -> str:
        return "1-8"

    def variables(self) -> dict[str, str]:
        return {"instance": self.base, "media": self.base}

    def routes(self) -> list:
        return [(r"/api/v1/videos/(\d+)", self.get_video), (r"/api/v1/videos", self.list_videos)]

    def not_found(self) -> Reply:
        return problem(404, "Not Found", "Video not found")

    def account(self, account_id: int) -> dict:
        name, display = ACCOUNTS[account_id]
        return {"id": account_id, "name": name, "displayName": display,
                "url": self.url(f"/accounts/{name}"), "host": self.host, "avatars": []}

    def file_json(self, video: Video) -> dict:
        url = self.files[video.id]
        return {"id": video.id, "resolution": {"id": 240, "label": "240p"}, "size": 7437,
                "fps": 10, "width": 64, "height": 48, "fileUrl": url,
                "fileDownloadUrl": url.replace("/static/", "/download/"),
                "torrentUrl": self.url(f"/lazy-static/torrents/{video.uuid}-240.torrent"),
                "magnetUri": f"magnet:?xs={video.uuid}", "hasAudio": False, "hasVideo": True,
                "metadataUrl": self.url(f"/api/v1/videos/{video.id}/metadata/{video.id}")}

    def video_json(self, video: Video) -> dict:
        web = [] if video.hls_only else [self.file_json(video)]
        hls = [{"id": video.id, "type": 1,
                "playlistUrl": self.url(
                    f"/static/streaming-playlists/hls/{video.uuid}/master.m3u8"),
                "files": [self.file_json(video)]}] if video.hls_only else []
        return {
            "id": video.id, "uuid": video.uuid, "shortUUID": f"short{video.id}",
            "name": video.name, "description": f"{video.name}, filmed on a phone.",
            "createdAt": video.published, "publishedAt": video.published,
            "originallyPublishedAt": None, "updatedAt": video.published,
            "privacy": {"id": video.privacy, "label": PRIVACY[video.privacy]},
            "category": {"id": None, "label": "Unknown"},
            "licence": {"id": None, "label": "Unknown"},
            "language": {"id": None, "label": "Unknown"}, "duration": 1, "isLocal": True,
            "isLive": False, "nsfw": False, "views": 3, "likes": 0, "dislikes": 0,
            "state": {"id": 1, "label": "Published"},
            "thumbnailPath": f"/lazy-static/thumbnails/{video.uuid}.jpg",
            "previewPath": f"/lazy-static/previews/{video.uuid}.jpg",
            "embedPath": f"/videos/embed/{video.uuid}",
            "account": self.account(video.account),
            "channel": {"id": video.account, "name": f"{ACCOUNTS[video.account][0]}_channel",
                        "displayName": "Main channel", "host": self.host},
            "tags": [], "files": web, "streamingPlaylists": hls,
        }

    def get_video(self, request: Request) -> Reply:
        video = self.videos.get(int(request.match.group(1)))
        if video is None:
            return self.not_found()
        if video.privacy in (3, 4):
            return problem(401, "Unauthorized", "Cannot get this video without authentication")
        return json_reply(self.video_json(video))

    def list_videos(self, request: Request) -> Reply:
        start, count = int(request.arg("start", "0")), int(request.arg("count", "15"))
        public = [v for v in self.videos.values() if v.privacy == 1]
        return json_reply({"total": len(public),
                           "data": [self.video_json(v) for v in public[start:start + count]]})

    def expected(self) -> list[Expected]:
        out = []
        for video_id in range(1, 9):
            video = self.videos.get(video_id)
            if video is None:
                out.append(Expected("video", str(video_id), "missing"))
            elif video.privacy in (3, 4):
                out.append(Expected("video", str(video_id), "forbidden"))
            else:
                out.append(Expected("video", str(video_id), "archived",
                                    ACCOUNTS[video.account][0], video.published, video.name,
                                    (self.files[video_id],)))
        return out
