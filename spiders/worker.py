"""One worker of a distributed crawl: the ID-walk spider fed by leased chunks from Redis.

``WorkerSpider`` is ``IdWalkSpider`` with a different source of IDs: its ``start()``
claims a chunk (``spiders.chunks``), yields that chunk's requests as fast as Scrapy has
room, and claims the next one, until every chunk of the walk is done. Requests go
through Scrapy's own in-memory scheduler (the leased chunk is what survives a crash).
Discovered items are claimed in Redis (``ChunkQueue.claim_items``) inside the callback
that found them, before its result can reach the shard: a dupefilter would claim them only
when they are scheduled, after the result may already be committed and reported, and a
worker killed in between would lose them. A heartbeat commits the shard, reports
committed items to Redis, marks finished chunks done and renews the leases.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, defaultdict
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator, Iterator

import click
import redis
import scrapy
from scrapy import signals

from archive.job import Job, utc_now, warc_prefix
from archive.results import LedgerEntry, Result
from archive.store import JobStore
from spiders.chunks import Chunk, ChunkQueue, item_key
from spiders.idwalk import DISCOVERED_PRIORITY, IdWalkSpider
from spiders.profile import IdRange

if TYPE_CHECKING:
    import sqlite_utils
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

NOT_FINISHED = ("queued",)


class ChunkTracker:
    """Which chunk each in-flight item belongs to, and when a chunk has nothing left."""

    def __init__(self) -> None:
        self.owner: dict[str, str] = {}
        self.open: Counter[str] = Counter()
        self.held: set[str] = set()
        self.walking: set[str] = set()

    def hold(self, chunk: str) -> None:
        self.held.add(chunk)
        self.walking.add(chunk)

    def walked(self, chunk: str) -> None:
        """Every request of ``chunk``'s own IDs has been handed to Scrapy."""
        self.walking.discard(chunk)

    def expect(self, chunk: str, key: str) -> bool:
        """An item of ``chunk`` is requested; False if it is already in flight."""
        if key in self.owner:
            return False
        self.owner[key] = chunk
        self.open[chunk] += 1
        return True

    def finish(self, key: str) -> str | None:
        """An item reached its ledger state (or will not be fetched); returns its chunk."""
        chunk = self.owner.pop(key, None)
        if chunk is not None:
            self.open[chunk] -= 1
        return chunk

    def backlog(self) -> int:
        """Items requested and not finished yet, over every chunk held."""
        return len(self.owner)

    def completable(self) -> list[str]:
        return [c for c in self.held if c not in self.walking and self.open[c] <= 0]

    def stuck(self) -> dict[str, list[str]]:
        """Walked chunks still waiting for items: {chunk: [item key, ...]}."""
        out: dict[str, list[str]] = defaultdict(list)
        for key, chunk in self.owner.items():
            if chunk not in self.walking:
                out[chunk].append(key)
        return out

    def forget(self, chunk: str) -> None:
        self.held.discard(chunk)
        self.open.pop(chunk, None)
        for key in [k for k, c in self.owner.items() if c == chunk]:
            del self.owner[key]


class ReportingStore(JobStore):
    """The shard's row store; after each commit, tells Redis which items are finished."""

    def __init__(self, *args: Any, queue: ChunkQueue, tracker: ChunkTracker, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.queue, self.tracker = queue, tracker
        self._finished: dict[str, list[str]] = defaultdict(list)

    def add_result(self, result: Result) -> None:
        ledger = result.ledger
        if ledger is not None:
            key = item_key(ledger.item_type, ledger.id)
            chunk = self.tracker.finish(key)
            if chunk is not None:
                self._finished[chunk].append(key)
        super().add_result(result)

    def flush(self) -> None:
        finished, self._finished = self._finished, defaultdict(list)
        super().flush()
        if finished:
            self.queue.report(finished)


def worker_prefix(job_dir: Path, worker: str) -> str:
    """WARC file name prefix of a worker's shard: the directory's name and the worker's."""
    base = warc_prefix(job_dir)
    return base if base == worker or base.endswith(f"-{worker}") else f"{base}-{worker}"


class WorkerJob(Job):
    """A shard job directory: WARC names carry the worker, commits are reported to Redis."""

    def __init__(self, job_dir: Path, profile_name: str, warc_max_size: int,
                 warcinfo: dict[str, str], worker: str, queue: ChunkQueue,
                 tracker: ChunkTracker):
        super().__init__(job_dir, profile_name, warc_max_size, warcinfo)
        self.worker = worker
        self.prefix = worker_prefix(self.dir, worker)
        self.store_factory = partial(ReportingStore, queue=queue, tracker=tracker)


def terminal_ids(db: sqlite_utils.Database, profile: str, item_type: str,
                 ids: list[str]) -> set[str]:
    """Which of ``ids`` this shard already finished (any ledger state but queued)."""
    found: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        found.update(row[0] for row in db.execute(
            f"SELECT id FROM ledger WHERE profile = ? AND item_type = ? AND state != 'queued' "
            f"AND id IN ({','.join('?' * len(chunk))})", [profile, item_type, *chunk]))
    return found


class WorkerSpider(IdWalkSpider):
    """Walks the chunks it claims from ``queue`` into its shard ``job``."""

    name = "lifeboat-worker"

    def __init__(self, profile, job: WorkerJob, queue: ChunkQueue, worker: str,
                 tracker: ChunkTracker, heartbeat: float = 1.0, poll: float = 0.5,
                 **kwargs: Any):
        super().__init__(profile=profile, job=job, walks=[], **kwargs)
        self.queue, self.worker, self.tracker = queue, worker, tracker
        self.heartbeat, self.poll = heartbeat, poll
        self._beat: asyncio.Task | None = None
        self.completed = 0

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> WorkerSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider.on_opened, signal=signals.spider_opened)
        crawler.signals.connect(spider.on_closed, signal=signals.spider_closed)
        return spider

    # ------------------------------------------------------------------ lifecycle

    def on_opened(self) -> None:
        self._beat = asyncio.ensure_future(self._heartbeat())

    def on_closed(self, reason: str) -> None:
        if self._beat is not None:
            self._beat.cancel()
        self.tick()
        if self.tracker.held:
            released = self.queue.release(self.worker)
            self.say(f"stopped ({reason}): chunks {', '.join(released) or 'none'} "
                     "given back to the queue")

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            try:
                self.tick()
            except Exception:  # Redis away for a moment: the next beat tries again
                logger.exception("heartbeat failed")

    def tick(self) -> None:
        """Commit the shard (reporting finished items), close finished chunks, renew."""
        self.job.store.flush()
        for chunk in self.tracker.completable():
            first = self.queue.complete(chunk, self.worker)
            self.tracker.forget(chunk)
            self.completed += 1
            self.say(f"chunk {chunk} done" + ("" if first else " (already done by another "
                                                                "worker; recorded once)"))
        lost = self.queue.renew(self.worker, self.tracker.held)
        for chunk in lost:
            logger.warning("lease on chunk %s lost (expired and claimed again); finishing "
                           "it anyway, merge keeps one copy of each item", chunk)

    def say(self, message: str) -> None:
        logger.info("%s", message)
        click.echo(f"lifeboat worker {self.worker}: {message}", err=True)

    # ------------------------------------------------------------------ requests

    async def start(self) -> AsyncIterator[scrapy.Request]:
        released = self.resume_own_chunks()
        if released:
            self.say(f"restarted: chunks {', '.join(released)} given back to the queue")
        idle_polls = 0
        while True:
            await self._wait_for_backlog()
            chunk = self.queue.claim(self.worker)
            if chunk is None:
                if self.queue.all_done():
                    return
                idle_polls = idle_polls + 1 if self._idle() else 0
                if idle_polls >= 4:
                    self._give_up_stuck()
                await asyncio.sleep(self.poll)
                continue
            idle_polls = 0
            self.say(f"claimed chunk {chunk.number} ({chunk.item_type} "
                     f"{chunk.start}-{chunk.stop})")
            self.tracker.hold(chunk.number)
            for request in self.chunk_requests(chunk):
                await self._wait_for_room()
                yield request
            self.tracker.walked(chunk.number)

    async def _wait_for_backlog(self) -> None:
        """Claim the next chunk only when this worker's queue is about to run dry: chunks
        held but not being fetched would wait here while another worker has nothing."""
        limit = self.crawler.settings.getint("CONCURRENT_REQUESTS")
        await self._wait_while(lambda: self.tracker.backlog() > limit)
        await self._wait_for_room()

    def resume_own_chunks(self) -> list[str]:
        """After a crash: report what the shard committed for chunks still leased to this
        worker's name (their IDs and discoveries), then give those chunks back so that any
        worker can finish them without fetching those items again."""
        for chunk in self.queue.held_by(self.worker):
            self.queue.report({chunk.number: self._done_here(self._chunk_items(chunk))})
        return self.queue.release(self.worker)

    def _chunk_items(self, chunk: Chunk, skip: set[str] = frozenset()) -> dict[str, list[str]]:
        """item type -> IDs of the chunk's walk and of the discoveries it owns, but ``skip``."""
        items: dict[str, list[str]] = defaultdict(list)
        for item_id in self._id_range(chunk):
            if item_key(chunk.item_type, item_id) not in skip:
                items[chunk.item_type].append(item_id)
        for key in self.queue.found(chunk.number) - skip:
            item_type, _, item_id = key.partition(":")
            if item_type in self.profile.items:
                items[item_type].append(item_id)
        return items

    def _done_here(self, items: dict[str, list[str]]) -> list[str]:
        """Keys of ``items`` this shard already finished."""
        return [item_key(item_type, i) for item_type, ids in items.items()
                for i in sorted(terminal_ids(self.job.db, self.profile.name, item_type, ids))]

    def _id_range(self, chunk: Chunk) -> IdRange:
        return replace(self.profile.items[chunk.item_type].ids, start=chunk.start, stop=chunk.stop)

    def chunk_requests(self, chunk: Chunk) -> Iterator[scrapy.Request]:
        """Requests for the chunk's IDs and discovered items not finished by anyone yet
        (those this shard finished already are reported, not fetched again)."""
        self.job.store.flush()  # finished here but not committed yet would look unfinished
        todo = self._chunk_items(chunk, skip=self.queue.finished(chunk.number))
        done_here = set(self._done_here(todo))
        if done_here:
            self.queue.report({chunk.number: sorted(done_here)})
        # expected all at once, before the first answer: a post of this chunk answered
        # early must not fetch a discovery that this walk is about to request anyway
        expected = [(item_type, item_id) for item_type, ids in todo.items() for item_id in ids
                    if item_key(item_type, item_id) not in done_here
                    and self.tracker.expect(chunk.number, item_key(item_type, item_id))]
        for item_type, item_id in expected:
            priority = 0 if item_type == chunk.item_type else DISCOVERED_PRIORITY
            request = self.request_for(self.profile.items[item_type], item_id, priority)
            if request is None:  # out of scope: logged to skipped.log
                self.tracker.finish(item_key(item_type, item_id))
                continue
            self.seen.add((item_type, item_id))
            request.meta["lifeboat_chunk"] = chunk.number
            yield request

    def outputs(self, response: scrapy.http.Response) -> list[Any]:
        """The walk's outputs for one answer; its discoveries are claimed for the chunk
        first, and only those this chunk owns are fetched (and queued in the ledger)."""
        return list(self._claimed(response.meta.get("lifeboat_chunk"), super().outputs(response)))

    def _claimed(self, chunk: int | None, outputs: list[Any]) -> Iterator[Any]:
        found = [item_key(*o.meta["lifeboat_item"]) for o in outputs
                 if isinstance(o, scrapy.Request) and not _same_item(o)]
        try:
            ours = self.queue.claim_items(chunk, found)
        except redis.RedisError as exc:  # the answer is archived; the ID ends failed
            yield from unclaimed(outputs, f"could not claim what it links to in Redis: {exc}")
            return
        for output in outputs:
            if isinstance(output, Result) and output.queued:
                output.queued = [q for q in output.queued if item_key(q.item_type, q.id) in ours]
            elif isinstance(output, scrapy.Request):
                key = item_key(*output.meta["lifeboat_item"])
                if not _same_item(output) and not (
                        key in ours and self.tracker.expect(chunk, key)):
                    continue  # another chunk owns it, it is finished, or it is on its way
                output.meta["lifeboat_chunk"] = chunk
            yield output

    # ------------------------------------------------------------------ safety net

    def _idle(self) -> bool:
        """Nothing scheduled, downloading or being parsed."""
        engine = self.crawler.engine
        return (not engine.downloader.active and engine.scraper.slot.is_idle()
                and not engine.scheduler.has_pending_requests())

    def _give_up_stuck(self) -> None:
        """Nothing left anywhere in Scrapy, yet items of walked chunks never reached the
        ledger (a request dropped on the way): record them failed, which closes the chunks,
        rather than wait for ever."""
        for chunk, keys in self.tracker.stuck().items():
            logger.error("chunk %s: %d items never reached the ledger (e.g. %s); recording "
                         "them failed", chunk, len(keys), keys[:3])
            for key in keys:
                item_type, _, item_id = key.partition(":")
                self.job.store.add_result(Result(ledger=LedgerEntry(
                    item_type, item_id, "failed", 0, None, utc_now(),
                    "lifeboat worker lost the request before any answer")))


def _same_item(request: scrapy.Request) -> bool:
    """A redirect hop or a next page of the item being answered: claimed with it."""
    return "lifeboat_redirects" in request.meta or "lifeboat_paging" in request.meta


def unclaimed(outputs: list[Any], reason: str) -> Iterator[Result]:
    """The results of ``outputs`` as ``failed`` with ``reason``, without rows or requests."""
    for output in outputs:
        if isinstance(output, Result):
            yield Result(captures=output.captures,
                         ledger=replace(output.ledger, state="failed", reason=reason[:300]))
