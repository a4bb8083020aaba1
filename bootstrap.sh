#!/usr/bin/env bash
# Set up lifeboat on a fresh Debian machine with only Python, then run a job.
#   ./bootstrap.sh demo   -> set up, then `lifeboat demo` (crawl the demo platform, serve Datasette)
#   ./bootstrap.sh test   -> set up, then run the whole test suite
# Installs what is missing: Debian packages with apt-get (ExifTool >= 12.24, and for the
# tests wget, redis-server, chromium, openssl, and WordPress, MediaWiki, MariaDB and PHP),
# Python packages into ./.venv.
set -euo pipefail
cd "$(dirname "$0")"

want="${1:-demo}"; shift || true
VENV=.venv
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"

apt_updated=""
apt_install() {  # apt_install PACKAGE... : install Debian packages, updating the lists once
    [ -n "$apt_updated" ] || { $SUDO apt-get update -qq; apt_updated=1; }
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

exiftool_ok() {  # ExifTool below 12.24 runs code from crafted files (CVE-2021-22204)
    command -v exiftool >/dev/null &&
        python3 -c "import sys; sys.exit(tuple(map(int, '$(exiftool -ver)'.split('.')[:2])) < (12, 24))"
}

exiftool_ok || { echo "bootstrap: installing ExifTool (libimage-exiftool-perl)"; apt_install libimage-exiftool-perl; }
exiftool_ok || { echo "bootstrap: ExifTool >= 12.24 is required; $(exiftool -ver 2>/dev/null || echo none) found" >&2; exit 1; }

if [ "$want" = test ]; then
    missing=()
    command -v wget >/dev/null || missing+=(wget)
    command -v redis-server >/dev/null || missing+=(redis-server)
    command -v chromium >/dev/null || missing+=(chromium)
    command -v openssl >/dev/null || missing+=(openssl)   # the loopback TSA of tests/test_seal.py
    # real platform software for tests/test_real_*.py, run on PHP's own web server
    [ -f /usr/share/wordpress/wp-settings.php ] || missing+=(wordpress)
    [ -f /usr/share/mediawiki/api.php ] || missing+=(mediawiki)
    [ -x /usr/sbin/mariadbd ] || missing+=(mariadb-server)
    command -v php >/dev/null || missing+=(php-cli)
    { command -v php >/dev/null && php -m 2>/dev/null | grep -x pdo_sqlite >/dev/null; } ||
        missing+=(php-sqlite3)
    command -v pdftotext >/dev/null || missing+=(poppler-utils)   # reads printed evidence pages (tests/test_browser.py)
    if [ ${#missing[@]} -gt 0 ]; then echo "bootstrap: installing ${missing[*]}"; apt_install "${missing[@]}"; fi
fi

stamp="$VENV/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    echo "bootstrap: creating $VENV and installing lifeboat into it"
    if ! python3 -m venv "$VENV" >/dev/null 2>&1; then   # Debian's python3 keeps venv apart
        rm -rf "$VENV"; apt_install python3-venv; python3 -m venv "$VENV"
    fi
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q -e ".[test]"
    touch "$stamp"
fi

case "$want" in
    demo) exec "$VENV/bin/lifeboat" demo "$@" ;;
    test) exec "$VENV/bin/python" -m pytest -n 2 --dist loadfile "$@" ;;
    setup) echo "bootstrap: ready; activate with: source $VENV/bin/activate" ;;
    *) echo "usage: ./bootstrap.sh demo|test|setup [ARGS...]" >&2; exit 2 ;;
esac
