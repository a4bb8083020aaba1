"""A tqdm progress bar over the walk: IDs done of total, rate, ETA and counts by state."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any, Callable

from scrapy import signals
from scrapy.exceptions import NotConfigured
from tqdm import tqdm

from archive.schema import LedgerState

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from archive.results import Result


def postfix(states: Counter[str], found: Counter[str]) -> str:
    """``archived=180 missing=12 | +user=20 +media=95``: this run's walked IDs by state,
    then the discovered items fetched."""
    text = " ".join(f"{k}={v}" for k, v in sorted(states.items()))
    extra = " ".join(f"+{k}={v}" for k, v in sorted(found.items()))
    return f"{text} | {extra}" if extra else text


class _LazyPostfixBar(tqdm):
    """A tqdm bar whose postfix is built by ``make_postfix`` only when it is drawn (tqdm
    draws at most every ``mininterval``; building it on every result cost more)."""

    make_postfix: Callable[[], str] | None = None

    @property
    def format_dict(self) -> dict[str, Any]:
        if self.make_postfix is not None:
            self.postfix = self.make_postfix()
        return super().format_dict


class ProgressBar:
    """Extension: one tqdm bar; discovered items (users, media) show in the counts."""

    def __init__(self, crawler: Crawler):
        if not crawler.settings.getbool("LIFEBOAT_PROGRESS", True):
            raise NotConfigured
        self.crawler = crawler
        self.bar: _LazyPostfixBar | None = None
        self.counts: Counter[str] = Counter()  # walked IDs by state
        self.found: Counter[str] = Counter()  # discovered items fetched, by item type
        self.walked: set[str] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ProgressBar:
        extension = cls(crawler)
        crawler.signals.connect(extension.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(extension.spider_closed, signal=signals.spider_closed)
        return extension

    def spider_opened(self, spider: Any) -> None:
        self.walked = {item.name for item, _ in spider.walks}
        total = sum(len(id_range) for _, id_range in spider.walks)
        done = spider.job.db.execute(
            "SELECT count(*) FROM ledger WHERE profile = ? AND state NOT IN (?, ?) "
            f"AND item_type IN ({','.join('?' * len(self.walked))})",
            [spider.profile.name, LedgerState.QUEUED, LedgerState.FAILED, *self.walked]
        ).fetchone()[0]
        self.bar = _LazyPostfixBar(total=total, initial=min(done, total), unit="id",
                                   dynamic_ncols=True, desc=f"lifeboat {spider.profile.name}",
                                   mininterval=0.5)
        self.bar.make_postfix = lambda: postfix(self.counts, self.found)
        spider.job.store.listeners.append(self.count)

    def count(self, result: Result) -> None:
        """One result stored (``archive.store.JobStore`` listener)."""
        ledger = result.ledger
        if ledger is None or self.bar is None:
            return
        if ledger.item_type in self.walked:
            self.counts[ledger.state] += 1
            self.bar.update(1)
        else:
            self.found[ledger.item_type] += 1

    def spider_closed(self, spider: Any) -> None:
        if self.bar is not None:
            self.bar.close()
