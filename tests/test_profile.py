"""Profiles: variables, ID ranges, and validation errors that name the bad key."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from crawl import cli
from spiders.profile import (PROFILES_DIR, ProfileError, load_profile, override_ids,
                             parse_profile, parse_size)

DEMO_VARS = {"api": "http://127.0.0.1:8080", "media": "http://127.0.0.1:8081/"}
DEMO_TEXT = (PROFILES_DIR / "demo.toml").read_text(encoding="utf-8")


def demo_with(old: str, new: str) -> str:
    assert old in DEMO_TEXT
    return DEMO_TEXT.replace(old, new, 1)


def test_demo_profile_loads_with_variables():
    profile = load_profile("demo", DEMO_VARS)
    assert profile.name == "demo"
    post = profile.items["post"]
    assert post.url_for("17") == "http://127.0.0.1:8080/api/v1/posts/17"
    assert profile.items["media"].url_for("http://127.0.0.1:8081/m/a.jpg") == \
        "http://127.0.0.1:8081/m/a.jpg"
    assert profile.items["user"].url_for("ali ce/x") == "http://127.0.0.1:8080/api/v1/users/ali%20ce%2Fx"
    assert profile.scope_reason("http://127.0.0.1:8081/media/x.jpg") is None
    assert "private address 127.0.0.1:9" in profile.scope_reason("http://127.0.0.1:9/x")
    assert "host example.com" in profile.scope_reason("https://example.com/x")
    assert [item.name for item in profile.walks] == ["post"]


@pytest.mark.parametrize("old, new, key", [
    ("name = \"demo\"", "name = \"demo\"\nnmae = \"typo\"", "nmae"),
    ("table = \"posts\"", "table = \"posts\"\nmethod = \"POST\"", "items.post.method"),
    ("author = \"author\"", "author = \"author[\"", "items.post.fields.author"),
    ("author = \"author\"", "writer = \"author\"", "items.post.fields.writer"),
    ("user = \"author\"", "account = \"author\"", "items.post.discover.account"),
    ("/api/v1/posts/{id}", "/api/v1/posts/{post_id}", "items.post.url"),
    ("/api/v1/posts/{id}", "/api/v1/posts/", "items.post.url"),
    ("${api}/api/v1/users/{id}", "${apii}/api/v1/users/{id}", "items.user.url"),
    ("stop = 500", "stop = -5", "items.post.ids.stop"),
    ("start = 1\n", "start = 1\nformat = \"octal\"\n", "items.post.ids.format"),
    ("retry_times = 6", "retry_times = \"six\"", "politeness.retry_times"),
    ("max_json_size = \"5MB\"", "max_json_size = \"lots\"", "politeness.max_json_size"),
    ("allowed_hosts = [\"${api}\", \"${media}\"]", "allowed_hosts = []", "scope.allowed_hosts"),
    ("parse = \"none\"", "parse = \"yaml\"", "items.media.parse"),
])
def test_bad_profile_names_the_key(old, new, key):
    with pytest.raises(ProfileError) as info:
        parse_profile(demo_with(old, new), "bad.toml", DEMO_VARS)
    assert info.value.key == key
    assert str(info.value).startswith(f"bad.toml: {key}: ")


def test_variables_required_and_declared():
    with pytest.raises(ProfileError, match=r"vars\.media: has no value: pass --var media="):
        parse_profile(DEMO_TEXT, "demo.toml", {"api": "http://127.0.0.1:1"})
    with pytest.raises(ProfileError, match=r"vars\.apu: --var apu is not declared"):
        parse_profile(DEMO_TEXT, "demo.toml", {**DEMO_VARS, "apu": "x"})


def test_id_ranges_padding_hex_and_order():
    text = demo_with("start = 1\n", "start = 250\npad = 6\nformat = \"hex\"\norder = \"descending\"\n")
    ids = parse_profile(text.replace("stop = 500", "stop = 260"), "x", DEMO_VARS).walks[0].ids
    assert list(ids)[:3] == ["000104", "000103", "000102"]
    assert len(ids) == 11
    narrowed = override_ids(ids, "ff-101")
    assert (narrowed.start, narrowed.stop, list(narrowed)) == (255, 257, ["000101", "000100", "0000ff"])
    with pytest.raises(ValueError, match="--ids"):
        override_ids(ids, "zz-1")


def test_sizes():
    assert parse_size("1GB") == 10**9
    assert parse_size("500MB") == 500 * 10**6
    assert parse_size("2GiB") == 2 * 2**30
    assert parse_size("1234") == 1234
    with pytest.raises(ValueError):
        parse_size("big")


def test_cli_rejects_bad_profile_before_any_request(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(demo_with("text = \"text\"", "text = \"text | \""), encoding="utf-8")
    job_dir = tmp_path / "job"
    result = CliRunner().invoke(cli, ["crawl", str(bad), "--out", str(job_dir),
                                      "--var", "api=http://127.0.0.1:9", "--var",
                                      "media=http://127.0.0.1:9"])
    assert result.exit_code == 1
    assert "items.post.fields.text" in result.output and "JMESPath" in result.output
    assert not job_dir.exists()


def test_cli_dry_run_prints_settings_and_creates_nothing(tmp_path):
    job_dir = tmp_path / "job"
    result = CliRunner().invoke(cli, ["crawl", "demo", "--out", str(job_dir), "--ids", "5-9",
                                      "--var", "api=http://127.0.0.1:9", "--var",
                                      "media=http://127.0.0.1:10", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "walk post: 5..9 (5 IDs" in result.output
    assert "ROBOTSTXT_OBEY = True" in result.output and "USER_AGENT = 'lifeboat/" in result.output
    assert not job_dir.exists()


def test_profiles_command_lists_variables():
    result = CliRunner().invoke(cli, ["profiles"])
    assert result.exit_code == 0
    assert "demo:" in result.output
    assert "--var api=...   (required)" in result.output


def test_every_bundled_profile_is_valid():
    for path in Path(PROFILES_DIR).glob("*.toml"):
        import tomllib

        declared = tomllib.loads(path.read_text(encoding="utf-8")).get("vars", {})
        values = {name: default or "http://127.0.0.1:1" for name, default in declared.items()}
        assert load_profile(str(path), values).items


@pytest.mark.parametrize("value, expected", [
    (True, True), (1, True), ("true", True), ("Yes", True), (["x"], True),
    (False, False), (0, False), ("0", False), ("false", False), ("FALSE", False), ("no", False),
    ("", False), (None, False), ([], False), ("null", False),
])
def test_flags_read_as_platforms_write_them(value, expected):
    from spiders.idwalk import truthy

    assert truthy(value) is expected
