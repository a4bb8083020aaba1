"""Who may reach the archive: loopback by default, anything wider only behind a login."""

from __future__ import annotations

import ipaddress

from datasette_plugins.exceptions import UnsafeBind


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, require_login: bool) -> None:
    """Raise UnsafeBind when ``host`` reaches beyond this machine without a login."""
    if is_loopback(host) or require_login:
        return
    raise UnsafeBind(
        f"refusing to serve on {host}: this archive holds people's locations (GPS tags of "
        "their photos and videos), capture times and posts, and anyone who can reach that "
        "address could read them. Serve on 127.0.0.1 (the default) and use an SSH tunnel, "
        "or add --require-login to let in only whoever opens the one-time login URL "
        "printed at start."
    )
