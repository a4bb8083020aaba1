"""``python -m platforms NAME`` (run from ``tests/``): serve one fixture until Ctrl-C."""

from __future__ import annotations

import sys
import time

from . import FIXTURES
from .base import serve


def main(argv: list[str]) -> int:
    """Start the named fixture and print its base URL."""
    if len(argv) != 1 or argv[0] not in FIXTURES:
        print(f"usage: python -m platforms {{{','.join(sorted(FIXTURES))}}}", file=sys.stderr)
        return 2
    with serve(FIXTURES[argv[0]]()) as fixture:
        print(fixture.base, flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
