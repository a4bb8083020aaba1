"""Imitations of real platforms' public endpoints, one module each, for crawl tests.

Only for platforms whose software cannot be installed here: WordPress and MediaWiki run
for real, from Debian's packages (``tests/real_platforms/``).

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

FIXTURES = {cls.profile: cls for cls in (DiasporaFixture, DiscourseFixture, ElggFixture,
                                         LemmyFixture, MastodonFixture, PeerTubeFixture)}
