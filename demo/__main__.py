"""`python -m demo serve`: run the demo platform on loopback."""

from __future__ import annotations

import argparse
from pathlib import Path

SERVE_EXAMPLE = """\
Faults are deterministic and transient: no URL fails more than twice in a row.

Example:

    python -m demo serve --posts 500 --seed 7 --rate-limit-every 50 --error-rate 0.02
"""


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter,
                    argparse.RawDescriptionHelpFormatter):
    """Each option's default after its help; the example kept as written."""


def parsers() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """``python -m demo`` and its one command, ``serve``."""
    main = argparse.ArgumentParser(
        prog="python -m demo",
        description="The lifeboat demo platform: a small social network on loopback.")
    commands = main.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve", formatter_class=HelpFormatter,
        help='Serve until SIGTERM/SIGINT; the first stdout line is {"api": URL, ...}.',
        description='Serve until SIGTERM/SIGINT; the first stdout line is '
                    '{"api": URL, "media": URL}.', epilog=SERVE_EXAMPLE)
    option = serve.add_argument
    option("--posts", type=int, default=500, metavar="N", help="Post ids 1..N.")
    option("--seed", type=int, default=1, help="Same seed, same platform.")
    option("--host", default="127.0.0.1", help="Address to listen on.")
    option("--latency-ms", type=float, default=0.0, metavar="MS",
           help="Delay before every /api/ and /media/ response (never blocks others).")
    option("--rate-limit-every", type=int, default=0, metavar="N",
           help="Answer every N-th API request with 429 and Retry-After (0: never).")
    option("--retry-after", type=int, default=1, metavar="SECONDS",
           help="Retry-After seconds sent with 429 and 503.")
    option("--error-rate", type=float, default=0.0, metavar="FRACTION",
           help="Fraction of API requests answered 503.")
    option("--drop-rate", type=float, default=0.0, metavar="FRACTION",
           help="Fraction of API requests whose connection is closed without a response.")
    option("--repost-rate", type=float, default=0.1, metavar="FRACTION",
           help="Fraction of archived posts that repost an earlier one (sharing its media).")
    option("--api-port", type=int, default=0, metavar="PORT", help="API port (0: a free one).")
    option("--media-port", type=int, default=0, metavar="PORT",
           help="Media port (0: a free one).")
    option("--cache-dir", type=Path, default=argparse.SUPPRESS, metavar="DIRECTORY",
           help="Media cache (default: ~/.cache/lifeboat-demo).")
    return main, serve


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve; bad values exit 2 with a usage message."""
    from demo.server import DemoConfig, serve

    main_parser, serve_parser = parsers()
    options = vars(main_parser.parse_args(argv))
    del options["command"]
    config = DemoConfig(**options)
    if config.posts < 1:
        serve_parser.error("argument --posts: must be at least 1")
    if not 0 <= config.error_rate + config.drop_rate <= 1:
        serve_parser.error("--error-rate plus --drop-rate must lie between 0 and 1")
    serve(config)


if __name__ == "__main__":
    main()
