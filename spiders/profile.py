"""Platform profiles: TOML loading, ``${NAME}`` variables and validation.

A profile is checked completely when it is loaded, before any request: an unknown key,
a missing variable, a bad URL template or a bad expression raises :class:`ProfileError`
naming the key (``items.post.fields.author``). The format is documented in
``spiders/profiles/README.md``.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from datetime import tzinfo
from typing import Any, Iterator
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from spiders.exceptions import BadOption, ProfileNotFound, SpiderError
from spiders.fields import PARSERS, compile_rows

PROFILES_DIR = Path(__file__).resolve().parent / "profiles"
VAR_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
SIZE_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
SIZE_UNITS = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4,
              "ki": 1024, "mi": 1024**2, "gi": 1024**3, "ti": 1024**4}

TOP_KEYS = {"name", "description", "contact", "vars", "scope", "politeness", "items"}
SCOPE_KEYS = {"allowed_hosts"}
ITEM_KEYS = {"url", "parse", "table", "ids", "fields", "discover", "states", "timezone", "rows",
             "next", "next_link", "max_pages"}
DEFAULT_MAX_PAGES = 1000
IDS_KEYS = {"start", "stop", "pad", "format", "order", "stop_after_missing"}
FIELD_KEYS = {"id", "author", "created_at", "text", "deleted", "media"}
STATES_KEYS = {"missing_status", "forbidden_status", "login_url", "missing_if", "forbidden_if"}
TABLES = {"", "posts", "media"}
# IDs made only of characters no URL quoting touches (urllib's quote, w3lib's safe_url_string)
PLAIN_ID = re.compile(r"[A-Za-z0-9_.~-]+")
ID_FORMATS = {"decimal": "d", "hex": "x"}
ORDERS = {"ascending", "descending"}

POLITENESS_DEFAULTS: dict[str, Any] = {
    "obey_robots": True,
    "concurrency": 8,
    "concurrency_per_host": 4,
    "autothrottle": True,
    "start_delay": 1.0,
    "max_delay": 60.0,
    "target_concurrency": 2.0,
    "download_delay": 0.0,
    "retry_times": 5,
    "backoff_base": 1.0,
    "backoff_max": 120.0,
    "retry_after_max": 600.0,
    "timeout": 60.0,
    "max_json_size": 20 * 10**6,  # 20MB; a profile may write sizes as text (parse_size)
    "max_media_size": 2 * 10**9,  # 2GB
}


class ProfileError(SpiderError, ValueError):
    """A profile is invalid; the message names the file and the key, and how to fix it."""

    def __init__(self, source: str, key: str, message: str):
        self.source, self.key = source, key
        super().__init__(f"{source}: {key}: {message}")


def parse_size(text: str | int) -> int:
    """``'500MB'`` -> 500_000_000, ``'1GiB'`` -> 1073741824, ``1234`` -> 1234."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    match = SIZE_PATTERN.match(str(text))
    if not match:
        raise BadOption(f"not a size: {text!r} (write e.g. 500MB, 1GB, 2GiB)")
    number, unit = match.groups()
    unit = (unit or "").lower()
    unit = unit[:-1] if unit.endswith("b") else unit
    if unit not in SIZE_UNITS:
        raise BadOption(f"not a size unit: {text!r} (use B, KB, MB, GB, TB, KiB, MiB, GiB)")
    return int(float(number) * SIZE_UNITS[unit])


@dataclass(frozen=True)
class IdRange:
    """An integer ID range, inclusive at both ends, formatted on demand (never listed)."""

    start: int
    stop: int
    pad: int = 0
    format: str = "decimal"
    order: str = "ascending"
    stop_after_missing: int = 0  # end the walk after this many missing IDs in a row (0: never)

    def __len__(self) -> int:
        return max(0, self.stop - self.start + 1)

    def numbers(self) -> range:
        if self.order == "descending":
            return range(self.stop, self.start - 1, -1)
        return range(self.start, self.stop + 1)

    def render(self, number: int) -> str:
        return format(number, f"0{self.pad}{ID_FORMATS[self.format]}")

    def parse(self, text: str) -> int:
        return int(text, 16 if self.format == "hex" else 10)

    def __iter__(self) -> Iterator[str]:
        return (self.render(n) for n in self.numbers())


@dataclass(frozen=True)
class ItemType:
    """One kind of thing the platform serves (post, user, media), and how to read it."""

    name: str
    url: str
    parse: str = "json"
    table: str = ""
    ids: IdRange | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    discover: dict[str, Any] = field(default_factory=dict)
    missing_status: frozenset[int] = frozenset({404, 410})
    forbidden_status: frozenset[int] = frozenset({401, 403})
    login_url: re.Pattern | None = None
    missing_if: Any = None
    forbidden_if: Any = None
    timezone: tzinfo | None = None  # of created_at values written without an offset
    rows: Any = None  # one posts row per element this picks
    next: Any = None  # the URL of the item's next page
    next_link: str | None = None  # or: the Link header's URL with this rel
    max_pages: int = DEFAULT_MAX_PAGES

    @property
    def credits_parent(self) -> bool:
        """Whether its ``fields.media`` are credited to the posts that discovered it."""
        return self.table != "posts" and "media" in self.fields

    def url_for(self, item_id: str) -> str:
        """The URL of one item: ``{id}`` percent-encoded, or the ID itself if url is ``{id}``."""
        if self.url == "{id}":
            return item_id
        if PLAIN_ID.fullmatch(item_id):  # what quote() leaves as it is: skip it
            return self.url.replace("{id}", item_id)
        return self.url.replace("{id}", quote(item_id, safe="@:!$'()*+,;=-._~"))


@dataclass(frozen=True)
class Profile:
    """A loaded, validated profile with its variables substituted."""

    name: str
    source: str
    contact: str
    description: str
    variables: dict[str, str]
    allowed_hosts: tuple[str, ...]
    politeness: dict[str, Any]
    items: dict[str, ItemType]
    text: str = ""

    @property
    def walks(self) -> list[ItemType]:
        """Item types with an ID range, in profile order (the first is the main walk)."""
        return [item for item in self.items.values() if item.ids is not None]

    def scope_reason(self, url: str) -> str | None:
        """Why ``url`` is out of scope, or None when the profile allows fetching it."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return f"not an http(s) URL: {url}"
        try:
            port = parts.port
        except ValueError:
            return f"not a valid port in {url}"
        netloc = _netloc(parts.scheme, parts.hostname, port)
        host = _host_form(parts.hostname)
        for allowed in self.allowed_hosts:
            if allowed == netloc or allowed == host:
                return None
            if allowed.startswith("*.") and parts.hostname.endswith(allowed[1:]) \
                    and not _is_ip(parts.hostname):
                return None
        if _is_private(parts.hostname):
            return f"private address {netloc} not listed in scope.allowed_hosts"
        return f"host {netloc} not listed in scope.allowed_hosts"


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _is_private(host: str) -> bool:
    """Whether ``host`` names this machine or a non-public network: localhost, or an IP
    address that is not globally routable (private, loopback, link-local, unique local
    fd00::/8, IPv4-mapped private, reserved...). A zone (fe80::1%eth0) is ignored."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return not (mapped or address).is_global


def _host_form(host: str) -> str:
    """A URL's host as written in a netloc: lower case, IPv6 addresses in brackets."""
    host = host.lower()
    return f"[{host}]" if ":" in host else host


def _netloc(scheme: str, host: str, port: int | None) -> str:
    host = _host_form(host)
    if port is None or (scheme, port) in (("http", 80), ("https", 443)):
        return host
    return f"{host}:{port}"


def parse_var_options(pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``('api=http://x', ...)`` -> ``{'api': 'http://x'}``; raises ValueError on a bad pair."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise BadOption(f"--var {pair!r}: write NAME=VALUE, e.g. --var api=http://127.0.0.1:8080")
        out[name.strip()] = value
    return out


def find_profile(name_or_path: str) -> Path:
    """A bundled profile by name (``demo``) or a TOML file path."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.is_file():
        if not path.is_file():
            raise ProfileNotFound(f"profile file not found: {path}")
        return path
    bundled = PROFILES_DIR / f"{name_or_path}.toml"
    if not bundled.is_file():
        names = ", ".join(sorted(p.stem for p in PROFILES_DIR.glob("*.toml")))
        raise ProfileNotFound(
            f"no bundled profile {name_or_path!r} (bundled: {names}); give a .toml path instead")
    return bundled


def load_profile(name_or_path: str, variables: dict[str, str] | None = None) -> Profile:
    """Load, substitute and validate a profile; raises ProfileError naming the bad key."""
    path = find_profile(name_or_path)
    text = path.read_text(encoding="utf-8")
    return parse_profile(text, str(path), variables or {})


def parse_profile(text: str, source: str, variables: dict[str, str]) -> Profile:
    """Validate profile TOML ``text`` (``source`` names it in errors)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(source, "(file)", f"not valid TOML: {exc}") from None
    _check_keys(source, "", data, TOP_KEYS)
    values = _resolve_vars(source, data.get("vars", {}), variables)
    data = _substitute(source, "", {k: v for k, v in data.items() if k != "vars"}, values)

    name = _require_str(source, "name", data.get("name"))
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise ProfileError(source, "name", "use letters, digits, '_', '.', '-' only")
    contact = _require_str(source, "contact", data.get("contact"))
    description = data.get("description", "")
    if not isinstance(description, str):
        raise ProfileError(source, "description", "must be a string")

    scope = _table(source, "scope", data.get("scope", {}))
    _check_keys(source, "scope", scope, SCOPE_KEYS)
    hosts = scope.get("allowed_hosts")
    if not isinstance(hosts, list) or not hosts or not all(isinstance(h, str) for h in hosts):
        raise ProfileError(source, "scope.allowed_hosts",
                           "list the hosts (or base URLs) that may be fetched, e.g. "
                           "[\"https://api.example.com\", \"*.cdn.example.com\"]")
    allowed = tuple(_host_entry(source, h) for h in hosts)

    politeness = _politeness(source, _table(source, "politeness", data.get("politeness", {})))

    items_data = _table(source, "items", data.get("items"))
    if not items_data:
        raise ProfileError(source, "items", "define at least one item type, e.g. [items.post]")
    items = {item_name: _item(source, item_name, spec, items_data)
             for item_name, spec in items_data.items()}
    if not any(item.ids for item in items.values()):
        raise ProfileError(source, "items", "no item type has an [items.NAME.ids] range to walk")
    return Profile(name=name, source=source, contact=contact, description=description,
                   variables=values, allowed_hosts=allowed, politeness=politeness,
                   items=items, text=text)


def _check_keys(source: str, prefix: str, table: dict, known: set[str]) -> None:
    for key in table:
        if key not in known:
            where = f"{prefix}.{key}" if prefix else key
            raise ProfileError(source, where,
                               f"unknown key; allowed here: {', '.join(sorted(known))}")


def _table(source: str, key: str, value: Any) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ProfileError(source, key, "must be a table")
    return value


def _require_str(source: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ProfileError(source, key, "required: a non-empty string")
    return value


def _resolve_vars(source: str, declared: Any, given: dict[str, str]) -> dict[str, str]:
    if not isinstance(declared, dict):
        raise ProfileError(source, "vars", "must be a table of NAME = \"default\"")
    for name in given:
        if name not in declared:
            raise ProfileError(source, f"vars.{name}",
                               f"--var {name} is not declared in [vars] "
                               f"(declared: {', '.join(sorted(declared)) or 'none'})")
    values = {}
    for name, default in declared.items():
        if not isinstance(default, str):
            raise ProfileError(source, f"vars.{name}", "default must be a string (\"\" = required)")
        value = given.get(name, default)
        if value == "":
            raise ProfileError(source, f"vars.{name}",
                               f"has no value: pass --var {name}=VALUE")
        values[name] = value.rstrip("/") if value.startswith(("http://", "https://")) else value
    return values


def _substitute(source: str, prefix: str, value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(source, f"{prefix}.{k}" if prefix else k, v, values)
                for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(source, f"{prefix}[{i}]", v, values) for i, v in enumerate(value)]
    if isinstance(value, str):
        def replace(match: re.Match) -> str:
            if match.group(1) not in values:
                raise ProfileError(source, prefix,
                                   f"uses ${{{match.group(1)}}} but [vars] does not declare it")
            return values[match.group(1)]
        return VAR_PATTERN.sub(replace, value)
    return value


def _host_entry(source: str, entry: str) -> str:
    if "://" in entry:
        parts = urlsplit(entry)
        if not parts.hostname:
            raise ProfileError(source, "scope.allowed_hosts", f"no host in {entry!r}")
        return _netloc(parts.scheme, parts.hostname, parts.port)
    return entry.lower().rstrip("/")


def _politeness(source: str, given: dict) -> dict[str, Any]:
    _check_keys(source, "politeness", given, set(POLITENESS_DEFAULTS))
    out = dict(POLITENESS_DEFAULTS)
    for key, value in given.items():
        default = POLITENESS_DEFAULTS[key]
        where = f"politeness.{key}"
        if key.startswith("max_") and key.endswith("_size"):
            try:
                out[key] = parse_size(value)
            except ValueError as exc:
                raise ProfileError(source, where, str(exc)) from None
            continue
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, int):
            ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
        else:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0
        if not ok:
            raise ProfileError(source, where, f"expected {type(default).__name__} like {default!r}")
        out[key] = float(value) if isinstance(default, float) else value
    return out


def _item(source: str, name: str, spec: Any, all_items: dict) -> ItemType:
    prefix = f"items.{name}"
    spec = _table(source, prefix, spec)
    _check_keys(source, prefix, spec, ITEM_KEYS)
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ProfileError(source, prefix, "item type names are lowercase words, e.g. post")
    url = _url_template(source, f"{prefix}.url", spec.get("url"))
    parse = spec.get("parse", "json")
    if parse not in PARSERS:
        raise ProfileError(source, f"{prefix}.parse",
                           f"unknown parser {parse!r}; use one of {', '.join(PARSERS)}")
    table = spec.get("table", "")
    if table not in TABLES:
        raise ProfileError(source, f"{prefix}.table",
                           "use \"posts\", \"media\" or leave it out (ledger and WARC only)")
    compile_expr = PARSERS[parse].compile

    def compiled(section: str, allowed: set[str] | None) -> dict[str, Any]:
        entries = _table(source, f"{prefix}.{section}", spec.get(section))
        if allowed is not None:
            _check_keys(source, f"{prefix}.{section}", entries, allowed)
        out = {}
        for key, expression in entries.items():
            where = f"{prefix}.{section}.{key}"
            if section == "discover" and key not in all_items:
                raise ProfileError(source, where, f"no item type [items.{key}] to discover into")
            if not (isinstance(expression, (dict, list)) and expression) and not (
                    isinstance(expression, str) and expression.strip()):
                raise ProfileError(source, where, "must be a non-empty expression string, "
                                   "selector table or list (see spiders/profiles/README.md)")
            try:
                out[key] = compile_expr(expression)
            except ValueError as exc:
                raise ProfileError(source, where, str(exc)) from None
        return out

    fields = compiled("fields", FIELD_KEYS)
    discover = compiled("discover", None)
    if table != "posts" and set(fields) - {"media"}:
        raise ProfileError(source, f"{prefix}.fields",
                           "fields fill the posts table: set table = \"posts\" (without it, "
                           "only media may be given: URLs credited to the posts that "
                           "discovered this item)")
    rows = next_page = None
    if "rows" in spec:
        if table != "posts" or "id" not in fields:
            raise ProfileError(source, f"{prefix}.rows",
                               "rows make one posts row per element: set table = \"posts\" and "
                               f"[{prefix}.fields] id = (each element's own ID)")
        try:
            rows = compile_rows(spec["rows"], parse)
        except ValueError as exc:
            raise ProfileError(source, f"{prefix}.rows", str(exc)) from None
    if "next" in spec:
        try:
            next_page = compile_expr(spec["next"])
        except ValueError as exc:
            raise ProfileError(source, f"{prefix}.next", str(exc)) from None
    next_link = spec.get("next_link")
    if next_link is not None and (not isinstance(next_link, str) or not next_link.strip()
                                  or "next" in spec):
        raise ProfileError(source, f"{prefix}.next_link",
                           "the rel of the Link header to follow, e.g. next_link = \"next\" "
                           "(give next or next_link, not both)")
    max_pages = spec.get("max_pages", DEFAULT_MAX_PAGES)
    if not isinstance(max_pages, int) or isinstance(max_pages, bool) or max_pages < 1:
        raise ProfileError(source, f"{prefix}.max_pages", "a number of pages, e.g. 100")
    states = _table(source, f"{prefix}.states", spec.get("states"))
    _check_keys(source, f"{prefix}.states", states, STATES_KEYS)
    conditions = {}
    for key in ("missing_if", "forbidden_if"):
        if key in states:
            try:
                conditions[key] = compile_expr(states[key])
            except ValueError as exc:
                raise ProfileError(source, f"{prefix}.states.{key}", str(exc)) from None
    login = states.get("login_url")
    try:
        login_re = re.compile(login) if login else re.compile(r"(?i)/(login|signin|sign_in|auth)\b")
    except (re.error, TypeError) as exc:
        raise ProfileError(source, f"{prefix}.states.login_url", f"bad regular expression: {exc}") from None
    return ItemType(
        name=name, url=url, parse=parse, table=table,
        timezone=_timezone(source, f"{prefix}.timezone", spec.get("timezone")),
        rows=rows, next=next_page, next_link=next_link, max_pages=max_pages,
        ids=_ids(source, f"{prefix}.ids", spec.get("ids")),
        fields=fields, discover=discover,
        missing_status=_statuses(source, f"{prefix}.states.missing_status",
                                 states.get("missing_status", [404, 410])),
        forbidden_status=_statuses(source, f"{prefix}.states.forbidden_status",
                                   states.get("forbidden_status", [401, 403])),
        login_url=login_re, missing_if=conditions.get("missing_if"),
        forbidden_if=conditions.get("forbidden_if"),
    )


def _timezone(source: str, key: str, name: Any) -> tzinfo | None:
    if name is None:
        return None
    try:
        if not isinstance(name, str) or not name.strip():
            raise ValueError
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ProfileError(source, key, f"{name!r} is not a time zone name: write e.g. "
                                        "\"UTC\" or \"Europe/Berlin\" (IANA names)") from None


def _url_template(source: str, key: str, url: Any) -> str:
    if not isinstance(url, str) or "{id}" not in url:
        raise ProfileError(source, key, "required: a URL template containing {id}, "
                                        "e.g. \"${api}/posts/{id}\" (or \"{id}\" for full URLs)")
    leftover = re.findall(r"\{[^}]*\}", url.replace("{id}", ""))
    if leftover:
        raise ProfileError(source, key, f"unknown placeholder {leftover[0]}; only {{id}} is filled in")
    if url.count("{id}") != 1:
        raise ProfileError(source, key, "use {id} exactly once")
    if url != "{id}":
        parts = urlsplit(url.replace("{id}", "1"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ProfileError(source, key, f"{url!r} is not an http(s) URL after substitution")
    return url


def _ids(source: str, key: str, spec: Any) -> IdRange | None:
    if spec is None:
        return None
    spec = _table(source, key, spec)
    _check_keys(source, key, spec, IDS_KEYS)
    start, stop = spec.get("start"), spec.get("stop")
    for part, value in (("start", start), ("stop", stop)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ProfileError(source, f"{key}.{part}", "required: a non-negative integer")
    if stop < start:
        raise ProfileError(source, f"{key}.stop", "must be >= start")
    fmt, order, pad = spec.get("format", "decimal"), spec.get("order", "ascending"), spec.get("pad", 0)
    if fmt not in ID_FORMATS:
        raise ProfileError(source, f"{key}.format", "use \"decimal\" or \"hex\"")
    if order not in ORDERS:
        raise ProfileError(source, f"{key}.order", "use \"ascending\" or \"descending\" (newest first)")
    if not isinstance(pad, int) or isinstance(pad, bool) or pad < 0:
        raise ProfileError(source, f"{key}.pad", "a width to zero-pad to, e.g. 8 (0 = none)")
    give_up = spec.get("stop_after_missing", 0)
    if not isinstance(give_up, int) or isinstance(give_up, bool) or give_up < 0:
        raise ProfileError(source, f"{key}.stop_after_missing",
                           "a number of consecutive missing IDs, e.g. 1000 (0 = walk to stop)")
    return IdRange(start=start, stop=stop, pad=pad, format=fmt, order=order,
                   stop_after_missing=give_up)


def _statuses(source: str, key: str, value: Any) -> frozenset[int]:
    if not isinstance(value, list) or not all(isinstance(v, int) and 100 <= v <= 599 for v in value):
        raise ProfileError(source, key, "a list of HTTP status codes, e.g. [404, 410]")
    return frozenset(value)


def override_ids(range_: IdRange, text: str) -> IdRange:
    """Apply ``--ids A-B`` (in the range's own format) to a walk's range."""
    start, sep, stop = text.partition("-")
    try:
        first, last = range_.parse(start.strip()), range_.parse((stop if sep else start).strip())
    except ValueError:
        raise BadOption(f"--ids {text!r}: write A-B, e.g. --ids 1-500") from None
    if last < first:
        raise BadOption(f"--ids {text!r}: the end is before the start")
    return replace(range_, start=first, stop=last)


def bundled_profiles() -> list[tuple[str, str, dict[str, str]]]:
    """(name, description, {variable: default or ''}) for every bundled profile."""
    out = []
    for path in sorted(PROFILES_DIR.glob("*.toml")):
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        out.append((path.stem, data.get("description", ""), dict(data.get("vars", {}))))
    return out


def profiles_lines() -> list[str]:
    """``lifeboat profiles``: each bundled profile and the variables it needs."""
    lines = []
    for name, description, variables in bundled_profiles():
        text = (PROFILES_DIR / f"{name}.toml").read_text(encoding="utf-8")
        lines.append(f"{name}: {description}")
        for var, default in variables.items():
            # the comment after the variable in [vars], if any, says what it is
            note = re.search(rf'(?m)^{re.escape(var)}\s*=\s*"[^"\n]*"\s*#\s*(?:required:\s*)?(.*)$',
                             text)
            lines.append(f"    --var {var}=...   " + (f"(default {default})" if default else "(required)")
                         + (f"  {note.group(1).strip()}" if note else ""))
    return lines
