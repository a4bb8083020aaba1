"""The shared walk of a distributed crawl: ID chunks in Redis, leased to workers.

``lifeboat seed`` cuts each ID range into chunks; a worker *claims* a chunk, which leases
it (``leases``: chunk -> expiry in Redis' own clock), renews the lease from a heartbeat,
reports every item it has committed to its shard (``fin:<chunk>``) and finally marks the
chunk done. A chunk whose lease ran out goes back to ``pending`` and the next claimer
walks it again, skipping what was reported finished. ``done`` is written with HSETNX: a
chunk finished twice is recorded once.

Items discovered while walking a chunk (users, media) belong to the first chunk that
found them (``seen``: item key -> chunk, ``found:<chunk>``): only that chunk's worker
fetches them, and whoever walks the chunk again after a crash fetches them too. A worker
claims an item's discoveries before it commits the item (``claim_items``), so an item
reported finished never takes unclaimed discoveries with it when its worker dies.

Keys, under ``lifeboat:<profile>:``: ``meta`` (hash), ``chunks`` (hash chunk -> "item
start stop"), ``pending`` (zset, score = chunk number), ``leases`` (zset), ``owner``
(hash chunk -> worker), ``done`` (hash chunk -> worker), ``seen`` (hash), ``found:<n>``,
``fin:<n>`` (sets, deleted when chunk n is done), ``pause:<host>`` (shared politeness).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Iterable

import redis
import redis.asyncio

from spiders.exceptions import RedisUnreachable, SeedMismatch

# every script reads the time from Redis, so workers' clocks never need to agree
_NOW = "local t = redis.call('TIME'); local now = t[1] * 1000 + math.floor(t[2] / 1000)\n"

_CLAIM = _NOW + """
local pending, leases, owner, chunks, done = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local expired = redis.call('ZRANGEBYSCORE', leases, '-inf', now)
for _, c in ipairs(expired) do
  redis.call('ZREM', leases, c)
  redis.call('HDEL', owner, c)
  if redis.call('HEXISTS', done, c) == 0 then redis.call('ZADD', pending, tonumber(c), c) end
end
local popped = redis.call('ZPOPMIN', pending)
if #popped == 0 then return {false, #expired} end
local c = popped[1]
redis.call('ZADD', leases, now + tonumber(ARGV[2]), c)
redis.call('HSET', owner, c, ARGV[1])
return {c, #expired, redis.call('HGET', chunks, c)}
"""

_RENEW = _NOW + """
local leases, owner, done = KEYS[1], KEYS[2], KEYS[3]
local lost = {}
for i = 3, #ARGV do
  local c = ARGV[i]
  if redis.call('HGET', owner, c) == ARGV[1] and redis.call('HEXISTS', done, c) == 0 then
    redis.call('ZADD', leases, now + tonumber(ARGV[2]), c)
  else
    table.insert(lost, c)
  end
end
return lost
"""

_COMPLETE = """
local leases, owner, done, pending, fin, found = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local first = redis.call('HSETNX', done, ARGV[1], ARGV[2])
redis.call('ZREM', leases, ARGV[1])
redis.call('HDEL', owner, ARGV[1])
redis.call('ZREM', pending, ARGV[1])
redis.call('DEL', fin, found)
return first
"""

_RELEASE = """
local leases, owner, pending, done = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local released = {}
local all = redis.call('HGETALL', owner)
for i = 1, #all, 2 do
  local c = all[i]
  if all[i + 1] == ARGV[1] then
    redis.call('HDEL', owner, c)
    redis.call('ZREM', leases, c)
    if redis.call('HEXISTS', done, c) == 0 then
      redis.call('ZADD', pending, tonumber(c), c)
      table.insert(released, c)
    end
  end
end
return released
"""

_CLAIM_ITEMS = """
local seen, found, fin, done = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local chunk = ARGV[1]
local is_done = redis.call('HEXISTS', done, chunk) == 1
local ours = {}
for i = 2, #ARGV do
  local key = ARGV[i]
  local holder = redis.call('HGET', seen, key)
  local take = 0
  if not holder then
    redis.call('HSET', seen, key, chunk)
    if not is_done then redis.call('SADD', found, key) end
    take = 1
  elseif holder == chunk and not is_done then
    take = 1 - redis.call('SISMEMBER', fin, key)
  end
  table.insert(ours, take)
end
return ours
"""

_PAUSE = _NOW + """
local until_ms = now + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if until_ms > current then redis.call('SET', KEYS[1], until_ms, 'PX', ARGV[1]) end
return redis.call('PTTL', KEYS[1])
"""


@dataclass(frozen=True)
class Chunk:
    """One claimed chunk: IDs ``start``..``stop`` (numbers, inclusive) of ``item_type``."""

    number: str
    item_type: str
    start: int
    stop: int


def _chunk(number: str, spec: str) -> Chunk:
    item_type, start, stop = spec.split()
    return Chunk(number, item_type, int(start), int(stop))


def item_key(item_type: str, item_id: str) -> str:
    """``post:17``: how an item is named in Redis (item type names have no ``:``)."""
    return f"{item_type}:{item_id}"


def connect(url: str) -> redis.Redis:
    """A client for ``url`` (``redis://host:6379/0``); fails early with a clear message."""
    from scrapy_redis.connection import get_redis

    client = get_redis(url=url, decode_responses=True, socket_connect_timeout=10)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise RedisUnreachable(f"cannot reach Redis at {url} ({exc}); start redis-server "
                               "or give the coordinator's --redis URL") from None
    return client


def connect_async(url: str) -> redis.asyncio.Redis:
    """An asyncio client for ``url``, for calls made on the crawl's event loop; it connects
    at its first call (``connect`` checked the server already)."""
    return redis.asyncio.from_url(url, decode_responses=True, socket_connect_timeout=10)


class _Walk:
    """Keys, scripts and the arguments of every call, shared by ``ChunkQueue`` (blocking:
    ``lifeboat seed``, tests, a worker's last report after its event loop has stopped) and
    ``AsyncChunkQueue`` (a worker's calls on its event loop)."""

    def __init__(self, client: redis.Redis | redis.asyncio.Redis, profile: str):
        self.r, self.profile = client, profile
        self.prefix = f"lifeboat:{profile}:"
        self._claim = client.register_script(_CLAIM)
        self._renew = client.register_script(_RENEW)
        self._complete = client.register_script(_COMPLETE)
        self._release = client.register_script(_RELEASE)
        self._claim_items = client.register_script(_CLAIM_ITEMS)
        self._pause = client.register_script(_PAUSE)

    def key(self, name: str) -> str:
        return self.prefix + name

    def _claim_call(self, worker: str, lease_ms: int) -> dict:
        return {"keys": [self.key(k) for k in ("pending", "leases", "owner", "chunks", "done")],
                "args": [worker, lease_ms]}

    def _renew_call(self, worker: str, lease_ms: int, chunks: list[str]) -> dict:
        return {"keys": [self.key("leases"), self.key("owner"), self.key("done")],
                "args": [worker, lease_ms, *chunks]}

    def _complete_call(self, chunk: str, worker: str) -> dict:
        return {"keys": [self.key(k) for k in ("leases", "owner", "done", "pending",
                                               f"fin:{chunk}", f"found:{chunk}")],
                "args": [chunk, worker]}

    def _release_call(self, worker: str) -> dict:
        return {"keys": [self.key(k) for k in ("leases", "owner", "pending", "done")],
                "args": [worker]}

    def _claim_items_call(self, chunk: str, keys: list[str]) -> dict:
        return {"keys": [self.key("seen"), self.key(f"found:{chunk}"),
                         self.key(f"fin:{chunk}"), self.key("done")], "args": [chunk, *keys]}

    def _pause_call(self, host: str, seconds: float) -> dict:
        return {"keys": [self.key(f"pause:{host}")], "args": [max(1, int(seconds * 1000))]}

    def _report_pipe(self, finished: dict[str, list[str]]):
        pipe = self.r.pipeline(transaction=False)
        for chunk, keys in finished.items():
            if keys:
                pipe.sadd(self.key(f"fin:{chunk}"), *keys)
        return pipe

    def _counts_pipe(self):
        pipe = self.r.pipeline(transaction=True)
        pipe.hlen(self.key("chunks"))
        pipe.zcard(self.key("pending"))
        pipe.zcard(self.key("leases"))
        pipe.hlen(self.key("done"))
        return pipe


def _claimed(result: list) -> Chunk | None:
    return _chunk(result[0], result[2]) if result[0] else None


def _counts(values: list[int]) -> dict[str, int]:
    return dict(zip(("chunks", "pending", "leased", "done"), values))


def _all_done(counts: dict[str, int]) -> bool:
    return counts["chunks"] > 0 and counts["done"] >= counts["chunks"]


def _lease_ms(value: str | None) -> int:
    return int(value or 60_000)


def _held(owners: dict[str, str], worker: str) -> list[str]:
    return [c for c, w in owners.items() if w == worker]


def _taken(keys: list[str], taken: list[int]) -> set[str]:
    return {key for key, take in zip(keys, taken) if take}


def _pause_left(pttl: int) -> float:
    return max(0, int(pttl)) / 1000


class ChunkQueue(_Walk):
    """The leased chunk queue of one profile's walk on one Redis server (blocking calls)."""

    # ---------------------------------------------------------------- seeding

    def seed(self, walks: Iterable[tuple[str, int, int, str]], chunk_size: int,
             lease_seconds: float, variables: dict[str, str], reset: bool = False) -> int:
        """Cut ``walks`` ([(item type, first, last, order)]) into chunks; returns how many.

        Seeding the same walk again changes nothing; a different one raises SeedMismatch.
        """
        walks = list(walks)
        plan = json.dumps({"walks": walks, "chunk": chunk_size})
        if reset:
            self.reset()
        meta = self.r.hgetall(self.key("meta"))
        if meta:
            if meta.get("plan") != plan:
                raise SeedMismatch(f"{self.prefix}* already holds another walk "
                                   f"({meta.get('plan')}): " + SeedMismatch.__doc__)
            return int(meta["chunks"])
        specs: dict[str, str] = {}
        for item_type, first, last, order in walks:
            starts = range(first, last + 1, chunk_size)
            if order == "descending":
                starts = reversed(starts)
            for start in starts:
                specs[str(len(specs))] = f"{item_type} {start} {min(start + chunk_size - 1, last)}"
        pipe = self.r.pipeline(transaction=True)
        numbered = list(specs.items())
        for first in range(0, len(numbered), 1000):
            batch = dict(numbered[first:first + 1000])
            pipe.hset(self.key("chunks"), mapping=batch)
            pipe.zadd(self.key("pending"), {n: int(n) for n in batch})
        pipe.hset(self.key("meta"), mapping={
            "plan": plan, "chunks": len(specs), "lease_ms": int(lease_seconds * 1000),
            "vars": json.dumps(variables), "seeded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                      time.gmtime())})
        pipe.execute()
        return len(specs)

    def reset(self) -> int:
        """Delete every key of this walk; returns how many were deleted."""
        keys = list(self.r.scan_iter(match=self.prefix + "*", count=1000))
        for start in range(0, len(keys), 500):
            self.r.delete(*keys[start:start + 500])
        return len(keys)

    def meta(self) -> dict[str, str]:
        return self.r.hgetall(self.key("meta"))

    @property
    def lease_ms(self) -> int:
        return _lease_ms(self.r.hget(self.key("meta"), "lease_ms"))

    # ---------------------------------------------------------------- leases

    def claim(self, worker: str) -> Chunk | None:
        """Lease the next pending chunk (expired leases go back to pending first)."""
        return _claimed(self._claim(**self._claim_call(worker, self.lease_ms)))

    def renew(self, worker: str, chunks: Iterable[str]) -> list[str]:
        """Extend the leases ``worker`` holds; returns the chunks it no longer holds."""
        chunks = list(chunks)
        if not chunks:
            return []
        return self._renew(**self._renew_call(worker, self.lease_ms, chunks))

    def complete(self, chunk: str, worker: str) -> bool:
        """Mark ``chunk`` done; False when it was already done (recorded once)."""
        return bool(self._complete(**self._complete_call(chunk, worker)))

    def release(self, worker: str) -> list[str]:
        """Give back every chunk leased to ``worker`` (a restart or a clean stop)."""
        return self._release(**self._release_call(worker))

    def held_by(self, worker: str) -> list[Chunk]:
        """The chunks leased to ``worker`` right now."""
        owned = _held(self.r.hgetall(self.key("owner")), worker)
        specs = self.r.hmget(self.key("chunks"), owned) if owned else []
        return [_chunk(number, spec) for number, spec in zip(owned, specs)]

    # ---------------------------------------------------------------- items

    def finished(self, chunk: str) -> set[str]:
        """Item keys reported finished under ``chunk``."""
        return self.r.smembers(self.key(f"fin:{chunk}"))

    def found(self, chunk: str) -> set[str]:
        """Discovered item keys that belong to ``chunk``."""
        return self.r.smembers(self.key(f"found:{chunk}"))

    def report(self, finished: dict[str, list[str]]) -> None:
        """Record items committed to a shard: {chunk: [item key, ...]}."""
        self._report_pipe(finished).execute()

    def claim_items(self, chunk: str, keys: list[str]) -> set[str]:
        """Which of the discovered items ``keys`` the walker of ``chunk`` should fetch.

        Call it before the item that revealed them is committed: once that item is
        reported finished, its discoveries must already be owned by some chunk, or a
        worker killed in between would take them with it.
        """
        if not keys:
            return set()
        return _taken(keys, self._claim_items(**self._claim_items_call(chunk, keys)))

    # ---------------------------------------------------------------- state

    def counts(self) -> dict[str, int]:
        return _counts(self._counts_pipe().execute())

    def all_done(self) -> bool:
        return _all_done(self.counts())

    # ---------------------------------------------------------------- politeness

    def pause_host(self, host: str, seconds: float) -> float:
        """Every worker holds requests to ``host`` for ``seconds``; returns the pause left."""
        return _pause_left(self._pause(**self._pause_call(host, seconds)))

    def host_pause(self, host: str) -> float:
        """Seconds every worker must still wait before sending to ``host`` (0: none)."""
        return _pause_left(self.r.pttl(self.key(f"pause:{host}")))


class AsyncChunkQueue(_Walk):
    """``ChunkQueue``'s calls that a worker makes on its event loop, awaited (redis.asyncio);
    same keys, scripts and answers."""

    async def lease_ms(self) -> int:
        return _lease_ms(await self.r.hget(self.key("meta"), "lease_ms"))

    async def claim(self, worker: str) -> Chunk | None:
        return _claimed(await self._claim(**self._claim_call(worker, await self.lease_ms())))

    async def renew(self, worker: str, chunks: Iterable[str]) -> list[str]:
        chunks = list(chunks)
        if not chunks:
            return []
        return await self._renew(**self._renew_call(worker, await self.lease_ms(), chunks))

    async def complete(self, chunk: str, worker: str) -> bool:
        return bool(await self._complete(**self._complete_call(chunk, worker)))

    async def release(self, worker: str) -> list[str]:
        return await self._release(**self._release_call(worker))

    async def held_by(self, worker: str) -> list[Chunk]:
        owned = _held(await self.r.hgetall(self.key("owner")), worker)
        specs = await self.r.hmget(self.key("chunks"), owned) if owned else []
        return [_chunk(number, spec) for number, spec in zip(owned, specs)]

    async def finished(self, chunk: str) -> set[str]:
        return await self.r.smembers(self.key(f"fin:{chunk}"))

    async def found(self, chunk: str) -> set[str]:
        return await self.r.smembers(self.key(f"found:{chunk}"))

    async def report(self, finished: dict[str, list[str]]) -> None:
        await self._report_pipe(finished).execute()

    async def claim_items(self, chunk: str, keys: list[str]) -> set[str]:
        if not keys:
            return set()
        return _taken(keys, await self._claim_items(**self._claim_items_call(chunk, keys)))

    async def all_done(self) -> bool:
        return _all_done(_counts(await self._counts_pipe().execute()))

    async def pause_host(self, host: str, seconds: float) -> float:
        return _pause_left(await self._pause(**self._pause_call(host, seconds)))

    async def host_pause(self, host: str) -> float:
        return _pause_left(await self.r.pttl(self.key(f"pause:{host}")))

    async def close(self) -> None:
        await self.r.aclose()
