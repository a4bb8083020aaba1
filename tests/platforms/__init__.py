"""Imitations of real platforms' public endpoints, one module each, for crawl tests.

``FIXTURES`` maps a bundled profile name to the fixture class it crawls; start one with
``base.serve(FixtureClass())``. Run ``python -m platforms NAME`` (from ``tests/``) to
keep one running and print its URL.
"""

from __future__ import annotations

from .diaspora import DiasporaFixture
from .discourse import DiscourseFixture
from .elgg import ElggFixture
from .lemmy import LemmyFixture
from .mastodon import MastodonFixture
from .peertube import PeerTubeFixture
from .wordpress import WordPressFixture

FIXTURES = {cls.profile: cls for cls in (DiasporaFixture, DiscourseFixture, ElggFixture,
                                         LemmyFixture, MastodonFixture, PeerTubeFixture,
                                         WordPressFixture)}
