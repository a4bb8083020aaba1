"""The demo platform's content: users, posts, their states and which media they show.

Everything here is a pure function of the seed (and the number of posts), so the same seed
always gives the same platform. Media *files* are planned in `demo.media`; this module only
decides which URL each post shows and which file each URL serves.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

STATES = ("archived", "deleted", "missing", "forbidden", "malformed")

# Fragments that make the text awkward for a crawler, a database and a web page; each appears
# at least once on any platform with enough posts (they go into the first archived posts).
SPECIAL_TEXTS = (
    "<script>alert(1)</script> just testing",
    "مرحبا بالعالم — نحن هنا",
    "שלום עולם, אנחנו כאן",
    "🚩🇺🇸🔥 we are inside 🔥",
    "Café ☕ in Zürich, naïve façade, “smart quotes”",
    "東京で会いましょう 🗼",
    "a & b < c > d \"quoted\" 'single'",
    "zero\u200bwidth and combining e\u0301 and NUL-free\ttab",
    "Ελληνικά και Русский текст",
    "<img src=x onerror=alert(2)> <b>bold</b>",
)
WORDS = (
    "march", "crowd", "police", "steps", "flag", "live", "stream", "door", "window", "inside",
    "outside", "tonight", "video", "photo", "look", "everyone", "share", "before", "deleted",
    "remember", "today", "capitol", "street", "bridge", "rally", "north", "south", "gate",
)
FIRST_NAMES = (
    "alice", "bob", "carol", "dmitri", "eve", "fatima", "gustavo", "hana", "ivan", "jun",
    "kofi", "lena", "mateo", "noor", "olga", "pedro", "qiu", "rosa", "sven", "tariq",
    "uma", "vera", "wei", "ximena", "yusuf", "zoe",
)
DISPLAY_DECOR = ("", " 🇺🇸", " ✝️", " (parody)", " — Официальный", " مستخدم", " 🦅", " Ñandú")
EPOCH = datetime(2021, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class User:
    """A user page: `/api/v1/users/{username}`."""

    username: str
    display_name: str
    bio: str
    joined_at: str
    avatar: str | None  # media name (e.g. "avatar-alice.jpg") or None


@dataclass
class Post:
    """One post ID and what the platform answers for it."""

    id: int
    state: str
    author: str = ""
    created_at: str = ""
    text: str | None = None
    reply_to: int | None = None
    repost_of: int | None = None
    media: list[str] = field(default_factory=list)  # media names, e.g. "m0007.jpg"


@dataclass
class World:
    """A whole platform: posts 1..N, users, and the media name -> file index map."""

    seed: int
    posts: list[Post]
    users: list[User]
    media_files: dict[str, int]  # media name -> index of the distinct file it serves


def iso(moment: datetime) -> str:
    """ISO 8601 UTC with a Z, second precision."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def distinct_media_count(posts: int) -> int:
    """How many distinct media files a platform of `posts` posts uses (about 1 per 4, <= 150)."""
    return max(4, min(150, posts // 4))


def choose_states(rng: random.Random, n: int) -> list[str]:
    """States for ids 1..n: mostly archived, with deletions, removals, gaps, private, malformed."""
    states: list[str] = []
    while len(states) < n:
        roll = rng.random()
        if roll < 0.012:  # an ID gap: a run of ids that never existed
            states.extend(["missing"] * rng.randint(2, 6))
        elif roll < 0.05:
            states.append("missing")
        elif roll < 0.11:
            states.append("deleted")
        elif roll < 0.15:
            states.append("forbidden")
        elif roll < 0.165:
            states.append("malformed")
        else:
            states.append("archived")
    states = states[:n]
    states[0] = "archived"
    if n >= 20:  # every state a few times (1 + n // 150), on ids that were archived
        for wanted in STATES[1:]:
            for _ in range(1 + n // 150 - states.count(wanted)):
                spots = [i for i, s in enumerate(states) if s == "archived" and i > 0]
                states[rng.choice(spots)] = wanted
    return states


def make_users(rng: random.Random, count: int) -> list[User]:
    """`count` users with unique ASCII usernames and awkward display names."""
    users = []
    for i in range(count):
        base = FIRST_NAMES[i % len(FIRST_NAMES)]
        username = base if i < len(FIRST_NAMES) else f"{base}_{i // len(FIRST_NAMES)}"
        joined = EPOCH - timedelta(days=rng.randint(30, 900), seconds=rng.randint(0, 86399))
        users.append(User(
            username=username,
            display_name=base.capitalize() + rng.choice(DISPLAY_DECOR),
            bio=rng.choice(SPECIAL_TEXTS) if rng.random() < 0.3 else " ".join(rng.sample(WORDS, 5)),
            joined_at=iso(joined),
            avatar=f"avatar-{username}.jpg" if rng.random() < 0.6 else None,
        ))
    return users


def make_text(rng: random.Random, special: str | None) -> str:
    """A post text: a few words, sometimes a hashtag, sometimes an awkward fragment."""
    words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12)))
    if special is None and rng.random() < 0.15:
        special = rng.choice(SPECIAL_TEXTS)
    parts = [words.capitalize()]
    if special:
        parts.append(special)
    if rng.random() < 0.3:
        parts.append("#" + rng.choice(WORDS))
    return " ".join(parts)


def make_world(posts: int, seed: int, repost_rate: float = 0.1) -> World:
    """The whole platform for `posts` post ids and a seed."""
    rng = random.Random(f"lifeboat-demo:{seed}")
    states = choose_states(rng, posts)
    users = make_users(rng, max(3, min(400, posts // 12)))
    n_files = distinct_media_count(posts)
    photo_files = [i for i in range(n_files) if not is_video_index(i)]

    # Media URLs: one per distinct file, plus re-uploads (same bytes under a new name).
    media_files: dict[str, int] = {}
    for i in range(n_files):
        media_files[media_name(i)] = i
    for k, i in enumerate(rng.sample(range(n_files), max(1, n_files // 10))):
        media_files[media_name(i, reupload=k + 1)] = i
    for user in users:
        if user.avatar:
            media_files[user.avatar] = rng.choice(photo_files)
    unused = [name for name in media_files if not name.startswith("avatar-")]
    rng.shuffle(unused)

    result: list[Post] = []
    archived: list[Post] = []
    moment = EPOCH
    specials = list(SPECIAL_TEXTS)
    for pid, state in enumerate(states, start=1):
        moment += timedelta(seconds=rng.randint(5, 1800))
        post = Post(id=pid, state=state, author=rng.choice(users).username, created_at=iso(moment))
        if state in ("archived", "malformed", "forbidden"):
            special = specials.pop(0) if specials and state == "archived" else None
            post.text = make_text(rng, special)
            post.reply_to = rng.randint(1, pid - 1) if pid > 1 and rng.random() < 0.2 else None
        if state == "archived":
            if archived and rng.random() < repost_rate:
                original = rng.choice(archived)
                post.repost_of, post.media = original.id, list(original.media)
            elif unused and (rng.random() < 0.45 or len(unused) > posts - pid):
                how_many = min(len(unused), rng.choice((1, 1, 1, 2, 3)))
                post.media = [unused.pop() for _ in range(how_many)]
            elif rng.random() < 0.08:  # the same URL shown again by an unrelated post
                shown = [name for p in archived for name in p.media]
                post.media = [rng.choice(shown)] if shown else []
            archived.append(post)
        result.append(post)
    for name in unused:  # whatever is left goes on the last archived post
        archived[-1].media.append(name)
    return World(seed=seed, posts=result, users=users, media_files=media_files)


def is_video_index(index: int) -> bool:
    """Every fourth distinct media file is an MP4 video, the rest JPEG photos."""
    return index % 4 == 3


def media_name(index: int, reupload: int = 0) -> str:
    """The URL file name of distinct media file `index` (or of its n-th re-upload)."""
    ext = "mp4" if is_video_index(index) else "jpg"
    prefix = "v" if ext == "mp4" else "p"
    return f"{prefix}{index:04d}-r{reupload}.{ext}" if reupload else f"{prefix}{index:04d}.{ext}"
