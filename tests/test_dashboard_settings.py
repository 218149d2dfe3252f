"""The ``[dashboard]`` settings: defaults, range checks, copy targets."""

from __future__ import annotations

import pytest

from config import ConfigError, settings_from_mapping


def test_defaults() -> None:
    dashboard = settings_from_mapping({}).dashboard
    assert dashboard.public_records and dashboard.public_partner and dashboard.targets == []


@pytest.mark.parametrize(("table", "key"), [
    ({"session_lifetime": 5}, "dashboard.session_lifetime"),
    ({"login_attempts": 0}, "dashboard.login_attempts"),
    ({"max_upload_bytes": 10**12}, "dashboard.max_upload_bytes"),
    ({"copy_timeout": 0.0}, "dashboard.copy_timeout"),
    ({"targets": [{"name": "x", "url": "http://x"}]}, "dashboard.targets[0].url"),
    ({"targets": [{"name": "x", "url": "z3950://h:1/D", "protocol": "ftp"}]},
     "dashboard.targets[0].protocol"),
    ({"targets": [{"name": "x", "url": "z3950://h:1/D", "protocol": "sru"}]},
     "dashboard.targets[0].url"),
    ({"targets": [{"name": "x", "url": "z3950://h:1/D"}, {"name": "x", "url": "z3950://h:2/D"}]},
     "dashboard.targets[1].name"),
])
def test_a_bad_value_names_its_key(table: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        settings_from_mapping({"dashboard": table})


def test_targets() -> None:
    settings = settings_from_mapping({"dashboard": {"targets": [
        {"name": "loc", "url": "z3950://127.0.0.1:2101/Default", "charset": "MARC-8"}]}})
    assert settings.dashboard.targets[0].name == "loc"


def test_a_targets_crosswalk_is_unimarc_rusmarc_or_none_in_one_line() -> None:
    def target(crosswalk: str) -> dict[str, object]:
        return {"targets": [{"name": "irbis", "url": "z3950://127.0.0.1:2101/IBIS",
                             "crosswalk": crosswalk}]}  # fmt: skip

    for crosswalk in ("", "unimarc", "rusmarc"):
        assert settings_from_mapping({"dashboard": target(crosswalk)}).dashboard.targets[
            0].crosswalk == crosswalk  # fmt: skip
    with pytest.raises(ConfigError) as refused:
        settings_from_mapping({"dashboard": target("marc8")})
    assert str(refused.value) == ("settings: dashboard.targets[0].crosswalk: expected unimarc "
                                  "or rusmarc (MARC records in UNIMARC), or none, got 'marc8'")


@pytest.mark.parametrize(("key", "default", "low", "high"), [
    ("conversion_seconds", 60, 1, 600),
    ("conversion_memory_mb", 1024, 64, 65536),
])
def test_a_conversion_limit_has_a_default_and_bounds_named_in_one_line(
    key: str, default: int, low: int, high: int
) -> None:
    assert getattr(settings_from_mapping({}).dashboard, key) == default
    for edge in (low, high):
        assert getattr(settings_from_mapping({"dashboard": {key: edge}}).dashboard, key) == edge
    for wrong in (low - 1, high + 1):
        with pytest.raises(ConfigError) as refused:
            settings_from_mapping({"dashboard": {key: wrong}})
        assert str(refused.value) == (f"settings: dashboard.{key}: expected a whole number "
                                      f"from {low} to {high}, got {wrong}")


@pytest.mark.parametrize(("target", "message"), [
    ({"url": "z3950://127.0.0.1:99999/db"},
     "url: Z39.50 address: port 99999 out of range in 'z3950://127.0.0.1:99999/db'"),
    ({"url": "z3950://127.0.0.1:0/db"},
     "url: Z39.50 address: port 0 out of range in 'z3950://127.0.0.1:0/db'"),
    ({"url": "z3950://"},
     "url: Z39.50 address: no host in 'z3950://'; expected HOST:PORT/DATABASE"),
    ({"url": "z3950://:2100/db"}, "url: Z39.50 address: no host in 'z3950://:2100/db'; expected "
     "HOST:PORT/DATABASE"),
    ({"url": "http://", "protocol": "sru"}, "url: URL 'http://': no host"),
    ({"url": "http://127.0.0.1:99999/sru", "protocol": "sru"},
     "url: URL 'http://127.0.0.1:99999/sru': Port out of range 0-65535"),
    ({"url": "http://127.0.0.1:0/sru", "protocol": "sru"},
     "url: URL 'http://127.0.0.1:0/sru': port 0 is no port to connect to"),
    ({"url": "z3950://h:1/D", "protocol": "sru"},
     "url: URL 'z3950://h:1/D': a Z39.50 address; give protocol z3950 (it is sru)"),
    ({"url": "http://a..bücher.example/sru", "protocol": "sru"},
     "url: URL 'http://a..bücher.example/sru': host 'a..bücher.example' is not a valid "
     "internationalized domain name (IDNA: label empty or too long)"),
    ({"url": "z3950://a..bücher.example/D"},
     "url: Z39.50 address: host 'a..bücher.example' is not a valid internationalized domain "
     "name (IDNA: label empty or too long) in 'z3950://a..bücher.example/D'"),
])  # fmt: skip
def test_a_target_address_is_checked_as_a_harvest_sources_is(target: dict[str, str],
                                                             message: str) -> None:
    """A copy target at port 99999, or with no host, was accepted (only its scheme was looked
    at), and each search of the dashboard failed on it; a harvest source at the same address
    was refused in one line. The target's line is the source's, the key its own."""
    with pytest.raises(ConfigError) as refused:
        settings_from_mapping({"dashboard": {"targets": [{"name": "t", **target}]}},
                              origin="k.toml")
    assert str(refused.value) == f"k.toml: dashboard.targets[0].{message}"
    source = {"name": "t", "url": target["url"], "protocol": target.get("protocol", "z3950"),
              "query": "@attr 1=4 a" if target.get("protocol") != "sru" else "dc.title=a"}
    with pytest.raises(ConfigError) as refused_source:
        settings_from_mapping({"sources": [source]}, origin="k.toml")
    assert str(refused_source.value) == f"k.toml: sources[0].{message}"


@pytest.mark.parametrize("target", [{"url": "z3950://127.0.0.1:65535/db"},
                                    {"url": "z3950://[::1]:1/db"},
                                    {"url": "http://127.0.0.1:65535/sru", "protocol": "sru"}])
def test_a_target_at_a_good_address_is_taken(target: dict[str, str]) -> None:
    settings = settings_from_mapping({"dashboard": {"targets": [{"name": "t", **target}]}})
    assert settings.dashboard.targets[0].url == target["url"]
