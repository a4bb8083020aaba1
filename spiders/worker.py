"""One worker of a distributed crawl: the ID-walk spider fed by leased chunks from Redis.

The worker is made of parts plugged into the ordinary crawl, not of subclasses:

- ``ChunkSource`` is the spider's source of requests (``IdWalkSpider(source=...)``): it
  claims a chunk (``spiders.chunks``), yields that chunk's requests as fast as Scrapy has
  room, and claims the next one, until every chunk of the walk is done. Requests go
  through Scrapy's own in-memory scheduler (the leased chunk is what survives a crash).
  Discovered items are claimed in Redis (``claim_items``) as an answer is admitted, before
  its result can reach the shard: a dupefilter would claim them only when they are
  scheduled, after the result may already be committed and reported, and a worker killed
  in between would lose them.
- ``CommitReporter`` listens to the shard's row store (``JobStore.listeners`` and
  ``after_commit``) and reports the items each commit finished to Redis.
- A heartbeat commits the shard, reports, marks finished chunks done and renews the leases.

Every Redis call made on the crawl's event loop is awaited (``AsyncChunkQueue``,
redis.asyncio); only the last report after the loop has stopped uses the blocking client.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, Iterator

import redis
import scrapy

from archive.job import utc_now, warc_prefix
from archive.results import LedgerEntry, Result
from archive.schema import LedgerState
from spiders.chunks import AsyncChunkQueue, Chunk, ChunkQueue, item_key
from spiders.idwalk import DISCOVERED_PRIORITY

if TYPE_CHECKING:
    import sqlite_utils
    from scrapy.http import Response

    from archive.store import JobStore
    from spiders.idwalk import IdWalkSpider

logger = logging.getLogger(__name__)


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


class CommitReporter:
    """Tells Redis which items the shard has committed, after each commit.

    ``result_added`` (a ``JobStore`` listener) notes the chunk of each finished item;
    ``committed`` (an ``after_commit`` hook) hands those to a task that sends them
    (``fin:<chunk>``); ``send`` waits until everything committed so far is reported.
    Reports are sent one at a time, in commit order."""

    def __init__(self, queue: AsyncChunkQueue, tracker: ChunkTracker):
        self.queue, self.tracker = queue, tracker
        self._uncommitted: dict[str, list[str]] = defaultdict(list)
        self._unreported: dict[str, list[str]] = defaultdict(list)
        self._sending = asyncio.Lock()
        self._tasks: set[asyncio.Task] = set()  # held until done (the loop keeps weak refs)

    def attach(self, store: JobStore) -> None:
        store.listeners.append(self.result_added)
        store.after_commit.append(self.committed)

    def result_added(self, result: Result) -> None:
        if result.ledger is not None:
            key = item_key(result.ledger.item_type, result.ledger.id)
            chunk = self.tracker.finish(key)
            if chunk is not None:
                self._uncommitted[chunk].append(key)

    def committed(self) -> None:
        if not self._uncommitted:
            return
        for chunk, keys in self._uncommitted.items():
            self._unreported[chunk] += keys
        self._uncommitted.clear()
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # the crawl is over: report_rest sends them
            return
        task = asyncio.ensure_future(self._send_logged())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_logged(self) -> None:
        try:
            await self.send()
        except redis.RedisError:  # Redis away for a moment: the heartbeat sends them
            logger.exception("reporting finished items failed")

    async def send(self) -> None:
        """Report every item committed so far (kept for the next try if Redis fails)."""
        async with self._sending:
            batch, self._unreported = self._unreported, defaultdict(list)
            if not batch:
                return
            try:
                await self.queue.report(batch)
            except BaseException:
                for chunk, keys in batch.items():
                    self._unreported[chunk][:0] = keys
                raise

    def report_rest(self, queue: ChunkQueue) -> None:
        """After the event loop has stopped: report what is left, with a blocking client."""
        if self._unreported:
            queue.report(self._unreported)
            self._unreported.clear()


def worker_prefix(job_dir: Path, worker: str) -> str:
    """WARC file name prefix of a worker's shard: the directory's name and the worker's."""
    base = warc_prefix(job_dir)
    return base if base == worker or base.endswith(f"-{worker}") else f"{base}-{worker}"


def terminal_ids(db: sqlite_utils.Database, profile: str, item_type: str,
                 ids: list[str]) -> set[str]:
    """Which of ``ids`` this shard already finished (any ledger state but queued)."""
    found: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        found.update(row[0] for row in db.execute(
            f"SELECT id FROM ledger WHERE profile = ? AND item_type = ? AND state != ? "
            f"AND id IN ({','.join('?' * len(chunk))})",
            [profile, item_type, LedgerState.QUEUED, *chunk]))
    return found


class ChunkSource:
    """The requests of a worker's leased chunks, for ``IdWalkSpider(source=...)``; also the
    worker's heartbeat (``opened`` / ``closed``: Scrapy's spider_opened / spider_closed)."""

    def __init__(self, queue: AsyncChunkQueue, worker: str, tracker: ChunkTracker,
                 reporter: CommitReporter, say: Callable[[str], None],
                 heartbeat: float = 1.0, poll: float = 0.5):
        self.queue, self.worker, self.tracker, self.reporter = queue, worker, tracker, reporter
        self.say = say  # a line for the operator
        self.heartbeat, self.poll = heartbeat, poll
        self.spider: IdWalkSpider | None = None
        self._beat: asyncio.Task | None = None
        self._ticking = asyncio.Lock()  # one tick at a time: the heartbeat's, or the last
        self.completed = 0

    # ------------------------------------------------------------------ lifecycle

    def opened(self, spider: IdWalkSpider) -> None:
        self.spider = spider
        self._beat = asyncio.ensure_future(self._heartbeat())

    async def closed(self, reason: str) -> None:
        if self._beat is not None:
            self._beat.cancel()
        try:
            await self.tick()
            if self.tracker.held:
                released = await self.queue.release(self.worker)
                self.say(f"stopped ({reason}): chunks {', '.join(released) or 'none'} "
                         "given back to the queue")
        finally:
            await self.queue.close()

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            try:  # a tick under way when the spider closes ends before the last one starts
                await asyncio.shield(self.tick())
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis away for a moment: the next beat tries again
                logger.exception("heartbeat failed")

    async def tick(self) -> None:
        """Commit the shard (reporting finished items), close finished chunks, renew."""
        async with self._ticking:
            await self._tick()

    async def _tick(self) -> None:
        store = self.spider.job.store
        store.flush()
        # every item of these is committed now (unless the store failed: then nothing is)
        done = [] if store.failed is not None else self.tracker.completable()
        await self.reporter.send()
        for chunk in done:
            first = await self.queue.complete(chunk, self.worker)
            self.tracker.forget(chunk)
            self.completed += 1
            self.say(f"chunk {chunk} done" + ("" if first else " (already done by another "
                                                                "worker; recorded once)"))
        lost = await self.queue.renew(self.worker, self.tracker.held)
        for chunk in lost:
            logger.warning("lease on chunk %s lost (expired and claimed again); finishing "
                           "it anyway, merge keeps one copy of each item", chunk)

    # ------------------------------------------------------------------ requests

    async def requests(self, spider: IdWalkSpider) -> AsyncIterator[scrapy.Request]:
        self.spider = spider
        released = await self.resume_own_chunks()
        if released:
            self.say(f"restarted: chunks {', '.join(released)} given back to the queue")
        idle_polls = 0
        while True:
            await self._wait_for_backlog()
            chunk = await self.queue.claim(self.worker)
            if chunk is None:
                if await self.queue.all_done():
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
            for request in await self.chunk_requests(chunk):
                await spider.wait_for_room()
                yield request
            self.tracker.walked(chunk.number)

    async def _wait_for_backlog(self) -> None:
        """Claim the next chunk only when this worker's queue is about to run dry: chunks
        held but not being fetched would wait here while another worker has nothing."""
        limit = self.spider.crawler.settings.getint("CONCURRENT_REQUESTS")
        await self.spider.wait_while(lambda: self.tracker.backlog() > limit)
        await self.spider.wait_for_room()

    async def resume_own_chunks(self) -> list[str]:
        """After a crash: report what the shard committed for chunks still leased to this
        worker's name (their IDs and discoveries), then give those chunks back so that any
        worker can finish them without fetching those items again."""
        for chunk in await self.queue.held_by(self.worker):
            items = self._chunk_items(chunk, await self.queue.found(chunk.number))
            await self.queue.report({chunk.number: self._done_here(items)})
        return await self.queue.release(self.worker)

    def _chunk_items(self, chunk: Chunk, found: set[str],
                     skip: set[str] = frozenset()) -> dict[str, list[str]]:
        """item type -> IDs of the chunk's walk and of the discoveries it owns (``found``),
        but ``skip``."""
        profile = self.spider.profile
        items: dict[str, list[str]] = defaultdict(list)
        id_range = replace(profile.items[chunk.item_type].ids, start=chunk.start, stop=chunk.stop)
        for item_id in id_range:
            if item_key(chunk.item_type, item_id) not in skip:
                items[chunk.item_type].append(item_id)
        for key in found - skip:
            item_type, _, item_id = key.partition(":")
            if item_type in profile.items:
                items[item_type].append(item_id)
        return items

    def _done_here(self, items: dict[str, list[str]]) -> list[str]:
        """Keys of ``items`` this shard already finished."""
        db, profile = self.spider.job.db, self.spider.profile.name
        return [item_key(item_type, i) for item_type, ids in items.items()
                for i in sorted(terminal_ids(db, profile, item_type, ids))]

    async def chunk_requests(self, chunk: Chunk) -> list[scrapy.Request]:
        """Requests for the chunk's IDs and discovered items not finished by anyone yet
        (those this shard finished already are reported, not fetched again)."""
        spider = self.spider
        spider.job.store.flush()  # finished here but not committed yet would look unfinished
        await self.reporter.send()
        todo = self._chunk_items(chunk, await self.queue.found(chunk.number),
                                 skip=await self.queue.finished(chunk.number))
        done_here = set(self._done_here(todo))
        if done_here:
            await self.queue.report({chunk.number: sorted(done_here)})
        # expected all at once, before the first answer: a post of this chunk answered
        # early must not fetch a discovery that this walk is about to request anyway
        expected = [(item_type, item_id) for item_type, ids in todo.items() for item_id in ids
                    if item_key(item_type, item_id) not in done_here
                    and self.tracker.expect(chunk.number, item_key(item_type, item_id))]
        requests = []
        for item_type, item_id in expected:
            priority = 0 if item_type == chunk.item_type else DISCOVERED_PRIORITY
            request = spider.request_for(spider.profile.items[item_type], item_id, priority)
            if request is None:  # out of scope: logged to skipped.log
                self.tracker.finish(item_key(item_type, item_id))
                continue
            spider.seen.add((item_type, item_id))
            request.meta["lifeboat_chunk"] = chunk.number
            requests.append(request)
        return requests

    async def admit(self, response: Response, outputs: list[Any]) -> list[Any]:
        """An answer's outputs with its discoveries claimed for its chunk first: only those
        this chunk owns are fetched (and queued in the ledger)."""
        chunk = response.meta.get("lifeboat_chunk")
        found = [item_key(*o.meta["lifeboat_item"]) for o in outputs
                 if isinstance(o, scrapy.Request) and not _same_item(o)]
        try:
            ours = await self.queue.claim_items(chunk, found)
        except redis.RedisError as exc:  # the answer is archived; the ID ends failed
            return list(unclaimed(outputs, f"could not claim what it links to in Redis: {exc}"))
        return list(self._claimed(chunk, outputs, ours))

    def _claimed(self, chunk: str, outputs: list[Any], ours: set[str]) -> Iterator[Any]:
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
        engine = self.spider.crawler.engine
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
                self.spider.job.store.add_result(Result(ledger=LedgerEntry(
                    item_type, item_id, LedgerState.FAILED, 0, None, utc_now(),
                    "lifeboat worker lost the request before any answer")))


def _same_item(request: scrapy.Request) -> bool:
    """A redirect hop or a next page of the item being answered: claimed with it."""
    return "lifeboat_redirects" in request.meta or "lifeboat_paging" in request.meta


def unclaimed(outputs: list[Any], reason: str) -> Iterator[Result]:
    """The results of ``outputs`` as ``failed`` with ``reason``, without rows or requests."""
    for output in outputs:
        if isinstance(output, Result):
            yield Result(captures=output.captures,
                         ledger=replace(output.ledger, state=LedgerState.FAILED,
                                        reason=reason[:300]))
