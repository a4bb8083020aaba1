"""`python -m demo serve`: run the demo platform on loopback."""

from __future__ import annotations

from pathlib import Path

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """The lifeboat demo platform: a small social network on loopback."""


@main.command()
@click.option("--posts", default=500, show_default=True, help="Post ids 1..N.")
@click.option("--seed", default=1, show_default=True, help="Same seed, same platform.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--latency-ms", default=0.0, show_default=True,
              help="Delay before every /api/ and /media/ response (never blocks others).")
@click.option("--rate-limit-every", default=0, show_default=True,
              help="Answer every N-th API request with 429 and Retry-After (0: never).")
@click.option("--retry-after", default=1, show_default=True,
              help="Retry-After seconds sent with 429 and 503.")
@click.option("--error-rate", default=0.0, show_default=True,
              help="Fraction of API requests answered 503.")
@click.option("--drop-rate", default=0.0, show_default=True,
              help="Fraction of API requests whose connection is closed without a response.")
@click.option("--repost-rate", default=0.1, show_default=True,
              help="Fraction of archived posts that repost an earlier one (sharing its media).")
@click.option("--api-port", default=0, show_default=True, help="API port (0: a free one).")
@click.option("--media-port", default=0, show_default=True, help="Media port (0: a free one).")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Media cache (default: ~/.cache/lifeboat-demo).")
def serve(**options: object) -> None:
    """Serve until SIGTERM/SIGINT; the first stdout line is {"api": URL, "media": URL}.

    Faults are deterministic and transient: no URL fails more than twice in a row.

    Example:

        python -m demo serve --posts 500 --seed 7 --rate-limit-every 50 --error-rate 0.02
    """
    from demo.server import DemoConfig, serve as run

    config = DemoConfig(**options)  # type: ignore[arg-type]
    if config.posts < 1:
        raise click.BadParameter("must be at least 1", param_hint="--posts")
    if not 0 <= config.error_rate + config.drop_rate <= 1:
        raise click.BadParameter("--error-rate plus --drop-rate must lie between 0 and 1")
    run(config)


if __name__ == "__main__":
    main()
