import pytest

from config import ConfigError, Settings, load_settings, settings_from_mapping


def test_defaults_need_no_file(monkeypatch, tmp_path):
    monkeypatch.delenv("KOPRIK_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings == Settings()
    assert settings.server.http_port == 8080
    assert settings.database.url.startswith("sqlite:///var/")


def test_settings_keep_the_name_of_the_file_they_were_read_from(monkeypatch, tmp_path):
    """For messages to name it: they said koprik.toml whichever file --config named."""
    monkeypatch.delenv("KOPRIK_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    assert load_settings().file == "koprik.toml"  # none read: the one that would be
    other = tmp_path / "other.toml"
    other.write_text("")
    assert load_settings(other).file == str(other)
    with pytest.raises(ConfigError, match=r"^settings: unknown key 'file'; expected one of "
                                          r"repository, .*, dashboard$"):
        settings_from_mapping({"file": "x.toml"})  # no key of the file sets it


def test_file_named_by_environment(monkeypatch, tmp_path):
    path = tmp_path / "k.toml"
    path.write_text(
        '[repository]\nname = "NLU"\nidentifier_prefix = "oai:natlib.uz:"\n'
        '[oai]\npage_size = 50\n'
        '[[sets]]\nspec = "col"\nname = "Rare books"\nrule = "collection"\nsources = ["rare"]\n'
        '[[sources]]\nname = "partner"\nurl = "http://127.0.0.1:8081/oai"\nevery = "6h"\n'
    )
    monkeypatch.setenv("KOPRIK_CONFIG", str(path))
    settings = load_settings()
    assert settings.repository.name == "NLU"
    assert settings.oai.page_size == 50
    assert settings.sets[0].sources == ["rare"]
    assert settings.sources[0].url == "http://127.0.0.1:8081/oai"
    assert settings.sources[0].delay == 1.0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"oai": {"page_sise": 10}}, "oai: unknown key 'page_sise'"),
        ({"oai": {"page_size": "ten"}}, "oai.page_size: expected a whole number"),
        ({"server": {"http_port": True}}, "server.http_port: expected a whole number"),
        ({"sets": [{"spec": "x", "name": "X", "rule": "colour"}]}, "sets[0].rule"),
        ({"sets": [{"spec": "x", "rule": "language"}]}, "missing key 'name'"),
        ({"repository": {"identifier_prefix": "natlib"}}, "identifier_prefix"),
        ({"repository": {"identifier_prefix": "oai:natlib:"}}, "repository.domain"),
        ({"repository": {"identifier_prefix": "oai:natlib.uz"}}, "identifier_prefix"),
        ({"database": "sqlite://"}, "database: expected a table"),
        ({"limits": {"max_record_bytes": 10}},
         "limits.max_record_bytes: expected a whole number from 1024 to"),
        ({"harvest": {"max_response_bytes": 10}},
         "harvest.max_response_bytes: expected a whole number from 1024 to 67108864, got 10"),
        ({"harvest": {"max_decompressed_bytes": 2**30}}, "harvest.max_decompressed_bytes"),
        ({"harvest": {"loop_pages": 1}},
         "harvest.loop_pages: expected a whole number from 2 to 100000, got 1"),
        ({"sources": [{"name": "a", "url": "http://127.0.0.1:1/oai",
                       "tolerated_shortfall": -1}]},
         "sources[0].tolerated_shortfall: expected a whole number from 0 to 1000000000, got -1"),
        ({"harvest": {"tolerated_shortfall": 2}}, "harvest: unknown key 'tolerated_shortfall'"),
    ],
)
def test_wrong_keys_name_the_key(data, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        settings_from_mapping(data)


@pytest.mark.parametrize("content", [b"[oai]\npage_size = -\n", b"\xff\xfe\x00binary"])
def test_bad_file_is_one_line_error_from_the_command(tmp_path, capsys, content):
    from koprik.cli import main

    path = tmp_path / "bad.toml"
    path.write_bytes(content)
    status = main(["--config", str(path), "demo", "--records", "1"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and err.startswith(f"koprik: {path}: not valid TOML: ")


def test_trusted_proxies_are_addresses_and_networks_of_either_family():
    assert Settings().server.trusted_proxies == []
    entries = ["127.0.0.1", "10.0.0.0/8", "::1", "2001:db8::/32"]
    settings = settings_from_mapping({"server": {"trusted_proxies": entries}})
    assert settings.server.trusted_proxies == entries


def test_union_file_sources_and_dedup_settings():
    from config.settings import institution_of

    settings = settings_from_mapping({
        "union": {"institution_code": "UzNL", "serve_members": True},
        "file_sources": [{"name": "sam", "institution_code": "UzSaRL",
                          "institution_name": "Samarqand"}],
        "sources": [{"name": "bux", "url": "http://127.0.0.1:1/oai"}],
        "dedup": {"title_min": 0.9, "blocked_isbns": ["9789943012349"]},
    })
    assert settings.union.serve_members and settings.dedup.title_min == 0.9
    assert institution_of(settings, None) == ("UzNL", settings.union.institution_name)
    assert institution_of(settings, "sam") == ("UzSaRL", "Samarqand")
    assert institution_of(settings, "bux") == ("bux", "bux")
    assert institution_of(settings, "003:DLC") == ("DLC", "DLC")


def test_a_source_says_whether_its_records_name_the_institution_of_each_copy():
    from config.settings import holdings_named

    settings = settings_from_mapping({
        "file_sources": [{"name": "sam"}, {"name": "vil", "holdings": "named"}],
        "sources": [{"name": "bux", "url": "http://127.0.0.1:1/oai", "holdings": "named"},
                    {"name": "xor", "url": "http://127.0.0.1:1/oai", "holdings": "source"}],
    })
    assert [holdings_named(settings, name) for name in ("sam", "vil", "bux", "xor", None)] == [
        False, True, True, False, False]


@pytest.mark.parametrize(("dedup", "message"), [
    ({"accept": 1.5}, "dedup.accept: expected a number from 0 to 1, got 1.5"),
    ({"review": 0.95, "accept": 0.9}, "dedup.review: expected at most dedup.accept"),
    ({"max_candidates": 0}, "dedup.max_candidates: expected a whole number from 1 to 10000, "
                            "got 0"),
    ({"year_tolerance": -1}, "dedup.year_tolerance: expected a whole number from 0 to 10, "
                         "got -1"),
])
def test_dedup_thresholds_are_checked(dedup, message):
    with pytest.raises(ConfigError, match=message):
        settings_from_mapping({"dedup": dedup})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"oai": {"page_size": -5}}, "oai.page_size: expected a whole number from 1 to 100000, "
                                     "got -5"),
        ({"server": {"http_port": 99999}}, "server.http_port: expected a whole number from 0 to "
                                           "65535, got 99999"),
        ({"server": {"z3950_idle_timeout": 0.5}}, "server.z3950_idle_timeout: expected a number"),
        ({"sources": [{"name": "a", "url": "http://127.0.0.1:1/oai"},
                      {"name": "b", "url": "http://127.0.0.1:1/oai", "delay": -1}]},
         "sources[1].delay: expected a number from 0 to 86400, got -1.0"),
        ({"server": {"z3950_max_pdu_bytes": 100}}, "server.z3950_max_pdu_bytes: expected a whole "
                                                   "number from 4096 to 67108864, got 100"),
        ({"server": {"http_write_timeout": 0}}, "server.http_write_timeout: expected a number"),
        # the database Z39.50 clients name and the SRU front end's path: was taken empty
        ({"server": {"z3950_database": ""}}, "server.z3950_database: expected a database "
                                             "name (Default), got ''"),
        ({"server": {"z3950_database": " "}}, "server.z3950_database: only white space"),
        ({"oai": {"max_page_bytes": 10}}, "oai.max_page_bytes: expected a whole number from 16384"),
        ({"log": {"format": "xml"}}, "log.format: expected one of plain, json, got 'xml'"),
        ({"log": {"level": "loud"}}, "log.level: expected one of debug, info, warning, error"),
        ({"repository": {"base_url": "oai.natlib.uz/oai"}}, "repository.base_url: expected an "
                                                            "http:// or https:// URL"),
        # baseURL (and every response's <request>) is the schema's xs:anyURI
        ({"repository": {"base_url": "http://oai.natlib.uz:port/oai"}},
         "repository.base_url: expected a URI (RFC 3986), got 'http://oai.natlib.uz:port/oai'"),
        ({"repository": {"base_url": "http://[oai.natlib.uz]/oai"}}, "expected a URI"),
        ({"repository": {"base_url": "https://oai.natlib.uz/%zz"}}, "expected a URI"),
        ({"union": {"serve_members": True, "members_set": "union members"}},
         "union.members_set: not a valid OAI-PMH setSpec (letters, digits and -_.!~*'(), parts "
         "joined by ':'), got 'union members'"),
        ({"union": {"serve_members": True, "members_set": "lang:mem"}},
         "union.members_set: 'lang:mem' is in the family of the sets 'lang'"),
        # each [[sets]] rule has a family of sets of its own
        ({"sets": [{"spec": "lang", "name": "By language", "rule": "language"},
                   {"spec": "type", "name": "By type", "rule": "material"},
                   {"spec": "lang", "name": "Languages", "rule": "language"}]},
         "sets[2].spec: the setSpec 'lang' is defined twice"),
        ({"sets": [{"spec": "rare:old", "name": "Old", "rule": "collection", "sources": ["a"]},
                   {"spec": "rare", "name": "Rare", "rule": "collection", "sources": ["a"]}]},
         "sets[1].spec: 'rare:old' is in the family of the sets 'rare'"),
        # Identify's adminEmail: one or more, each of the OAI-PMH schema's emailType
        ({"repository": {"admin_email": []}}, "repository.admin_email: expected at least one "
                                              "e-mail address"),
        ({"repository": {"admin_email": ["oai@natlib.uz", "webmaster"]}},
         "repository.admin_email[1]: expected an e-mail address (name@host.domain), "
         "got 'webmaster'"),
        ({"repository": {"admin_email": ["oai @natlib.uz"]}}, "got 'oai @natlib.uz'"),
        # TOML's nan and inf compare with no bound: each is refused as not finite
        ({"dedup": {"title_min": float("nan")}}, "dedup.title_min: expected a finite number, "
                                                 "got nan"),
        ({"sources": [{"name": "a", "url": "http://127.0.0.1:1/oai", "delay": float("inf")}]},
         "sources[0].delay: expected a finite number, got inf"),
        ({"sources": [{"name": "a", "url": "http://127.0.0.1:1/oai"},
                      {"name": "a", "url": "http://127.0.0.1:2/oai"}]},
         "sources: the name 'a' is defined twice"),
        ({"sources": [{"name": "a", "url": "http://127.0.0.1:1/oai"}],
          "file_sources": [{"name": "a"}]}, "file_sources: the name 'a' is defined twice"),
        ({"server": {"trusted_proxies": ["127.0.0.1", "nginx.local"]}},
         "server.trusted_proxies[1]: expected an IP address or a network with its host bits "
         "zero (10.0.0.0/8, 2001:db8::/32), got 'nginx.local'"),
        ({"server": {"trusted_proxies": ["10.0.0.1/8"]}},
         "server.trusted_proxies[0]: expected an IP address or a network"),
        ({"server": {"trusted_proxies": ["2001:db8::/129"]}}, "got '2001:db8::/129'"),
        ({"server": {"trusted_proxies": [10]}},
         "server.trusted_proxies[0]: expected text in quotes, got 10"),
        ({"log": {"level": 3}}, "log.level: expected text in quotes, got 3"),  # was 'str'
        ({"database": {"answer_timeout": "5"}},
         "database.answer_timeout: expected a number, got '5'"),
        ({"sources": [{"name": "a", "url": "http://127.0.0.1:1/oai", "holdings": "branch"}]},
         "sources[0].holdings: expected one of source, named, got 'branch'"),
        ({"file_sources": [{"name": "a", "holdings": "yes"}]},
         "file_sources[0].holdings: expected one of source, named, got 'yes'"),
        # a source "union" had its records' ids (union:001) taken by the union records' own
        ({"sources": [{"name": "union", "url": "http://127.0.0.1:1/oai"}]},
         "sources[0].name: source name 'union': the union records' own; name it otherwise"),
        ({"file_sources": [{"name": "union"}]},
         "file_sources[0].name: source name 'union': the union records' own; name it otherwise"),
        ({"file_sources": [{"name": "a b"}]},
         "file_sources[0].name: source name 'a b': use Latin letters (A-Z, a-z), digits, '.', "
         "'_' or '-'"),
        # accepted without a word: a key guessed in a few tries, a set no record can be in, a
        # list of sources a rule ignores, holdings of no library
        ({"oai": {"token_secret": "x"}},
         "oai.token_secret: at least 16 characters (it signs the resumption tokens; empty: a "
         "random key kept in the catalogue), got 1"),
        ({"sets": [{"spec": "rare", "name": "Rare", "rule": "collection"}]},
         "sets[0].sources: a collection's sources are the records it holds, and only a "
         "collection has sources (rule 'collection', 0 sources)"),
        ({"sets": [{"spec": "lang", "name": "L", "rule": "language", "sources": ["a"]}]},
         "sets[0].sources: a collection's sources are the records it holds, and only a "
         "collection has sources (rule 'language', 1 sources)"),
        ({"union": {"institution_code": ""}},
         "union.institution_code: expected the library's MARC organization code (852 $a of its "
         "copies), got ''"),
        # white space only: a log file named "  ", a key anyone guesses, an 035 prefix that
        # every number has (records of different sources matched on their local numbers)
        ({"union": {"institution_code": " "}},
         "union.institution_code: only white space; leave it empty (or out) or give a value, "
         "got ' '"),
        ({"log": {"file": "  "}}, "log.file: only white space"),
        ({"oai": {"token_secret": " " * 16}}, "oai.token_secret: only white space"),
        ({"dedup": {"control_prefixes": ["(OCoLC)", ""]}},
         "dedup.control_prefixes[1]: an empty item; leave it out"),
        ({"dedup": {"control_prefixes": [" "]}}, "dedup.control_prefixes[0]: only white space"),
        ({"server": {"trusted_proxies": [""]}}, "server.trusted_proxies[0]: an empty item"),
        # a body past max_decompressed_bytes on the wire is past it unpacked: the larger
        # max_response_bytes bounded nothing
        ({"harvest": {"max_decompressed_bytes": 16 * 1024 * 1024}},
         "harvest.max_decompressed_bytes: less than harvest.max_response_bytes (33554432), "
         "which it bounds too: a body unpacks to about as many bytes as it has on the wire, "
         "or more"),
        ({"harvest": {"max_response_bytes": 2**25 + 1, "max_decompressed_bytes": 2**25}},
         "harvest.max_decompressed_bytes: less than harvest.max_response_bytes (33554433)"),
        # a NUL in a file name ended serve in a traceback; one in a name reached SRU explain
        ({"log": {"file": "x\x00y"}},
         "log.file: a control character (U+0000) is not allowed, got 'x\\x00y'"),
        ({"database": {"url": "sqlite:///x\x00y"}},
         "database.url: a control character (U+0000) is not allowed"),
        ({"repository": {"name": "Lib\x01rary"}},
         "repository.name: a control character (U+0001) is not allowed"),
        ({"sets": [{"spec": "a", "name": "A\x1b", "rule": "language"}]},
         "sets[0].name: a control character (U+001B) is not allowed"),
        ({"dedup": {"control_prefixes": ["(OCoLC)\x7f"]}},
         "dedup.control_prefixes[0]: a control character (U+007F) is not allowed"),
        # a host with a space was taken, and each run failed after its retries
        ({"sources": [{"name": "a", "url": "http://h h/oai"}]},
         "sources[0].url: URL 'http://h h/oai': white space in its host 'h h'"),
        ({"sources": [{"name": "a", "url": "http://127.0.0.1 :8080/oai"}]},
         "sources[0].url: URL 'http://127.0.0.1 :8080/oai': white space in its host "
         "'127.0.0.1 '"),
        ({"sources": [{"name": "a", "url": "http://127.0.0.1:1/oai", "sets": "a\x00b"}]},
         "sources[0].sets[0]: a control character (U+0000) is not allowed"),
        ({"dashboard": {"targets": [{"name": "t", "url": "z3950://127.0.0.1:1/D",
                                     "charset": "nosuch"}]}},
         "dashboard.targets[0].charset: unknown character set 'nosuch'; one of utf-8, "),
        ({"database": {"pool_size": 3, "max_overflow": 2}},
         "database.max_overflow: pool_size + max_overflow must be at least 6 (the search "
         "service's threads keep 4 connections), got 5"),
        ({"database": {"pool_size": 0}},
         "database.pool_size: expected a whole number from 1 to 1000, got 0"),
        ({"database": {"max_overflow": -1}},
         "database.max_overflow: expected a whole number from 0 to 1000, got -1"),
        ({"harvest": {"max_response_bytes": 2**27}},
         "harvest.max_response_bytes: expected a whole number from 1024 to 67108864, got "
         "134217728"),
    ],
)
def test_values_out_of_range_name_the_key(data, message):
    with pytest.raises(ConfigError) as error:
        settings_from_mapping(data, origin="k.toml")
    assert str(error.value).startswith("k.toml")
    assert message in str(error.value)


def _numeric_settings(cls: type, prefix: str = "") -> dict[str, object]:
    """Every int or float setting under ``cls``, with its field."""
    import dataclasses
    import typing

    found: dict[str, object] = {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if not f.metadata.get("key", True):  # no key sets it (Settings.file)
            continue
        hint = hints[f.name]
        item = typing.get_args(hint)[0] if typing.get_origin(hint) is list else hint
        if dataclasses.is_dataclass(item):
            found |= _numeric_settings(item, f"{prefix}{f.name}.")
        elif item in (int, float):
            found[f"{prefix}{f.name}"] = f
    return found


def test_every_numeric_setting_has_a_lower_bound():
    numeric = _numeric_settings(Settings)
    assert "oai.page_size" in numeric and "sources.delay" in numeric
    unbounded = [name for name, f in numeric.items() if "minimum" not in f.metadata]  # type: ignore[attr-defined]
    assert unbounded == []


def test_the_defaults_are_within_the_ranges():
    settings_from_mapping({"sources": [{"name": "a", "url": "http://127.0.0.1:1/oai"}]})


@pytest.mark.parametrize("setting", ["[oai]\npage_size = -5", "[server]\nhttp_port = 99999"])
def test_a_value_out_of_range_stops_serve_with_one_line(tmp_path, capsys, setting):
    from koprik.cli import main

    path = tmp_path / "k.toml"
    path.write_text(setting + "\n")
    assert main(["--config", str(path), "serve"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"koprik: {path}: ")  # file, then key


def test_a_folder_as_the_settings_file_is_named_so(tmp_path, capsys, monkeypatch):
    from koprik.cli import main

    assert main(["--config", str(tmp_path), "runs"]) == 2
    assert capsys.readouterr().err == (
        f"koprik: {tmp_path}: a folder, not a settings file (--config names the koprik.toml "
        "to read)\n")
    monkeypatch.setenv("KOPRIK_CONFIG", str(tmp_path))
    with pytest.raises(ConfigError, match=r"a folder, not a settings file \(\$KOPRIK_CONFIG"):
        load_settings()


def test_an_empty_config_name_is_refused(tmp_path, capsys, monkeypatch):
    """``koprik --config "$UNSET" ...`` read ./koprik.toml (or the defaults) in its place."""
    from koprik.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "koprik.toml").write_text(f'[database]\nurl = "sqlite:///{tmp_path}/k.db"\n')
    assert main(["--config", "", "runs"]) == 2
    err = capsys.readouterr().err
    assert err == "koprik: --config '': an empty name, naming no settings file\n"
    assert not (tmp_path / "k.db").exists()
    monkeypatch.setenv("KOPRIK_CONFIG", "")  # an empty variable is one not set, as in a shell
    assert load_settings().database.url == f"sqlite:///{tmp_path}/k.db"

_SOURCE = {"name": "s1", "url": "http://127.0.0.1:9/oai"}


@pytest.mark.parametrize(("fields", "message"), [
    ({"every": "6x"}, "sources[0].every: interval '6x': expected a number and s, min, h, d or w"),
    ({"cron": "99 * * * *"}, "sources[0].cron: cron '99 * * * *': "),
    ({"protocol": "ftp"}, "sources[0].protocol: protocol 'ftp': expected oai-pmh, z3950, sru"),
    ({"every": "6h", "cron": "0 3 * * *"},
     "sources[0].cron: give a schedule either as an interval (every) or as cron, not both"),
    ({"charset": "cp1251"}, "sources[0].charset: 'charset' is not supported for OAI-PMH"),
    ({"protocol": "z3950", "url": "z3950://127.0.0.1:9/Default", "query": "@attr 1=4 a",
      "tolerated_shortfall": 1},
     "sources[0].tolerated_shortfall: 'tolerated_shortfall' is not supported for Z39.50"),
    ({"sets": ["x y"]}, "sources[0].sets: set 'x y': not a valid OAI-PMH set"),
    ({"name": "a b"}, "sources[0].name: source name 'a b'"),
    ({"url": "ftp://127.0.0.1/oai"}, "sources[0].url: URL 'ftp://127.0.0.1/oai': "),
    ({"protocol": "sru", "query": "dc.title=("}, "sources[0].query: CQL query 'dc.title=('"),
])  # fmt: skip
def test_a_source_of_the_file_is_checked_as_one_added_from_the_command_line(fields, message):
    """A source of koprik.toml that could never be scheduled or harvested was accepted: serve
    and the scheduler started, logging only "source s1 is not scheduled"."""
    good = {"name": "s0", "url": "http://127.0.0.1:9/oai"}
    with pytest.raises(ConfigError) as refused:
        settings_from_mapping({"sources": [{**_SOURCE, **fields}, good]}, origin="k.toml")
    assert str(refused.value).startswith(f"k.toml: {message}"), str(refused.value)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize(("key", "fields", "message"), [
    ("sources", {"institution_code": "U" * 101},
     "sources[0].institution_code: institution_code: at most 100 characters, got 101"),
    ("sources", {"institution_name": "N" * 501},
     "sources[0].institution_name: institution_name: at most 500 characters, got 501"),
    ("sources", {"url": "http://127.0.0.1:9/" + "o" * 982},
     "sources[0].url: url: at most 1000 characters, got 1001"),
    ("file_sources", {"institution_code": "U" * 101},
     "file_sources[0].institution_code: institution_code: at most 100 characters, got 101"),
    ("file_sources", {"institution_name": "N" * 501},
     "file_sources[0].institution_name: institution_name: at most 500 characters, got 501"),
    ("file_sources", {"name": "s" * 101},
     "file_sources[0].name: name: at most 100 characters, got 101"),
])  # fmt: skip
def test_a_source_of_the_file_longer_than_its_column_is_refused_in_one_line(key, fields, message):
    """A text of a source of koprik.toml is held to the length of its harvest_sources column
    as one added from the command line, the API or the dashboard is; it was accepted whole
    (a name of 101 characters, longer than the ``source`` column of its records and runs,
    which PostgreSQL refuses to store)."""
    good = {"name": "s0", "url": "http://127.0.0.1:9/oai"} if key == "sources" else {"name": "s0"}
    refused_one = {**(_SOURCE if key == "sources" else {"name": "s1"}), **fields}
    with pytest.raises(ConfigError) as refused:
        settings_from_mapping({key: [refused_one, good]}, origin="k.toml")
    assert str(refused.value) == f"k.toml: {message}"
    fitting = {field: value[:-1] for field, value in fields.items()}
    settings = settings_from_mapping({key: [{**refused_one, **fitting}, good]})
    assert len(getattr(settings, key)) == 2


def test_a_sources_sets_are_the_partners_any_valid_setspec_will_do():
    settings = settings_from_mapping({"sources": [{**_SOURCE, "sets": ["nosuch", "a:b.c"]}]})
    assert settings.sources[0].sets == ["nosuch", "a:b.c"]


@pytest.mark.parametrize("spec", ["x y", "", "lang:", ":x", "ü"])
def test_a_set_spec_is_an_oai_setspec(spec):
    rule = {"spec": spec, "name": "X", "rule": "language"}
    with pytest.raises(ConfigError, match=r"^settings: sets\[0\]\.spec: not a valid OAI-PMH "):
        settings_from_mapping({"sets": [rule]})


@pytest.mark.parametrize("command", [["serve"], ["scheduler"], ["sources", "list"]])
def test_a_bad_source_stops_serve_and_the_scheduler_with_one_line(tmp_path, command):
    """Run as the operator runs it (a process: a server that starts anyway is killed after the
    timeout, which fails the test), on ports of the system's choosing."""
    import subprocess
    import sys

    path = tmp_path / "k.toml"
    path.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "c.sqlite3"}"\n'
                    "[server]\nhttp_port = 0\nz3950_port = 0\n"
                    '[[sources]]\nname = "s1"\nurl = "http://127.0.0.1:9/oai"\nevery = "6x"\n')
    done = subprocess.run([sys.executable, "-m", "koprik", "--config", str(path), *command],
                          capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (2, "", (
        f"koprik: {path}: sources[0].every: interval '6x': expected a number and s, min, h, d "
        "or w, e.g. 6h\n"))
    assert not (tmp_path / "c.sqlite3").exists()


def _setting_names(cls: type, prefix: str = "") -> list[str]:
    """Every setting under ``cls`` (the tables of an array of tables too), by its key path."""
    import dataclasses
    import typing

    names: list[str] = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if not f.metadata.get("key", True):  # no key sets it (Settings.file)
            continue
        hint = hints[f.name]
        item = typing.get_args(hint)[0] if typing.get_origin(hint) is list else hint
        if dataclasses.is_dataclass(item):
            names += _setting_names(item, f"{prefix}{f.name}.")
        else:
            names.append(f"{prefix}{f.name}")
    return names


def test_the_readme_samples_load_together_show_the_defaults_and_name_every_setting():
    """An operator copies README.md's koprik.toml samples into one file: it must load; the
    tables but [repository] (an example library) show the defaults; no setting goes unnamed."""
    import re
    import tomllib

    from tests.conftest import ROOT

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    samples = tomllib.loads("\n".join(re.findall(r"```toml\n(.*?)```", readme, re.S)))
    settings, defaults = settings_from_mapping(samples, origin="README.md"), Settings()
    shown = [
        f"{table}.{key}"
        for table, values in samples.items()
        if isinstance(values, dict) and table != "repository"
        for key in values
        if key != "targets" and getattr(getattr(settings, table), key)
        != getattr(getattr(defaults, table), key)
    ]
    assert shown == []
    unnamed = [name for name in _setting_names(Settings)
               if re.search(rf"\b{name.rpartition('.')[2]}\b", readme) is None]
    assert unnamed == []


@pytest.mark.parametrize("value", [2**63 - 1, 10**20, 10_001])
def test_max_candidates_has_an_upper_bound(value):
    """It reaches SQL (plus one) as a bound parameter: past 2**63 - 1 ``koprik dedup`` and
    ``koprik import`` ended in a 57-line OverflowError from SQLite."""
    with pytest.raises(ConfigError, match=rf"^k.toml: dedup.max_candidates: expected a whole "
                                          rf"number from 1 to 10000, got {value}$"):
        settings_from_mapping({"dedup": {"max_candidates": value}}, origin="k.toml")
    assert settings_from_mapping({"dedup": {"max_candidates": 10_000}}).dedup.max_candidates == (
        10_000)


@pytest.mark.parametrize("command", [["dedup", "--all"], ["import", "marc.dat"]])
def test_max_candidates_too_large_stops_dedup_and_import_with_one_line(tmp_path, capsys,
                                                                        monkeypatch, command):
    """Both went on to an OverflowError traceback (SQLite INTEGER) on a catalogue with records."""
    from koprik.cli import main
    from tests.conftest import ROOT

    monkeypatch.chdir(tmp_path)  # import's report, should it get that far
    url = f'[database]\nurl = "sqlite:///{tmp_path / "k.sqlite3"}"\n'
    (tmp_path / "good.toml").write_text(url)
    assert main(["--config", str(tmp_path / "good.toml"), "demo", "--records", "20"]) == 0
    path = tmp_path / "k.toml"
    path.write_text(f"{url}[dedup]\nmax_candidates = {2**63 - 1}\n")
    capsys.readouterr()
    command = [str(ROOT / "tests" / "data" / "marc21" / word) if word.endswith(".dat") else word
               for word in command]
    assert main(["--config", str(path), *command]) == 2
    err = capsys.readouterr().err
    assert err == (f"koprik: {path}: dedup.max_candidates: expected a whole number from 1 to "
                   f"10000, got {2**63 - 1}\n")


def test_every_numeric_setting_has_an_upper_bound():
    """Eight whole-number settings had only a lower one (``at_least``): 99999999999999999999
    connections, lists at once, title key characters or years of tolerance were accepted
    without a word."""
    unbounded = [name for name, f in _numeric_settings(Settings).items()
                 if "maximum" not in f.metadata]  # type: ignore[attr-defined]
    assert unbounded == []


@pytest.mark.parametrize(("setting", "low", "high"), [
    ("server.z3950_max_connections", 1, 1_048_576),
    ("server.z3950_max_connections_per_address", 1, 1_048_576),
    ("server.http_max_connections", 1, 1_048_576),
    ("server.http_max_connections_per_address", 1, 1_048_576),
    ("oai.max_concurrent_lists", 1, 2000),
    ("dedup.title_key_chars", 1, 200),
    ("dedup.year_tolerance", 0, 10),
    ("dedup.extent_tolerance_pages", 0, 1000),
])  # fmt: skip
def test_a_setting_past_its_upper_bound_is_refused_in_one_line_naming_it(setting, low, high):
    table, key = setting.split(".")
    for value in (high + 1, 99999999999999999999):
        with pytest.raises(ConfigError) as refused:
            settings_from_mapping({table: {key: value}}, origin="k.toml")
        assert str(refused.value) == (
            f"k.toml: {setting}: expected a whole number from {low} to {high}, got {value}")
    for value in (low, high):
        assert getattr(getattr(settings_from_mapping({table: {key: value}}), table), key) == value


def test_the_title_key_is_no_longer_than_a_match_key_is_kept():
    """A title key is cut to the ``match_keys.key`` column: one longer is the same key."""
    import dataclasses

    from catalog.match_keys import MAX_KEY_CHARS
    from catalog.models import match_keys
    from config.settings import DedupSettings

    (title_key_chars,) = [f for f in dataclasses.fields(DedupSettings)
                          if f.name == "title_key_chars"]
    assert title_key_chars.metadata["maximum"] == MAX_KEY_CHARS == match_keys.c.key.type.length


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "sqlite:///:memory:",
                                 "sqlite+pysqlite:///:memory:"])
def test_a_settings_file_naming_a_catalogue_in_memory_is_refused(tmp_path, monkeypatch, url):
    """``koprik import`` reported records added, status 0, and all was gone at exit."""
    message = (f"database.url: {url!r} is a catalogue in memory, which keeps nothing; name a "
               "file (sqlite:///path/to/koprik.sqlite3)")
    path = tmp_path / "k.toml"
    path.write_text(f'[database]\nurl = "{url}"\n')
    with pytest.raises(ConfigError) as error:
        load_settings(path)
    assert str(error.value) == f"{path}: {message}"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "koprik.toml").write_text(path.read_text())
    monkeypatch.delenv("KOPRIK_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="is a catalogue in memory"):
        load_settings()  # the default ./koprik.toml
    # settings made in code (tests, benchmarks) may keep their catalogue in memory
    assert settings_from_mapping({"database": {"url": url}}).database.url == url


def test_a_catalogue_in_memory_stops_import_with_one_line(tmp_path, capsys, monkeypatch):
    from koprik.cli import main
    from tests.conftest import ROOT

    monkeypatch.chdir(tmp_path)  # import's report, should it get that far
    path = tmp_path / "k.toml"
    path.write_text('[database]\nurl = "sqlite://"\n')
    status = main(["--config", str(path), "import",
                   str(ROOT / "tests" / "data" / "marc21" / "marc.dat")])
    err = capsys.readouterr().err
    assert status == 2
    assert err == (f"koprik: {path}: database.url: 'sqlite://' is a catalogue in memory, which "
                   "keeps nothing; name a file (sqlite:///path/to/koprik.sqlite3)\n")


def test_a_settings_file_may_start_with_a_byte_order_mark(tmp_path):
    """Editors on Windows (Notepad) save UTF-8 with one: it was "not valid TOML: Invalid
    statement (at line 1, column 1)"."""
    path = tmp_path / "k.toml"
    path.write_bytes(f'\ufeff[database]\nurl = "sqlite:///{tmp_path}/k.sqlite3"\n'
                     .encode())
    assert load_settings(path).database.url == f"sqlite:///{tmp_path}/k.sqlite3"
    path.write_bytes(b"\xef\xbb\xbf[database]\nurl = \"sqlite:///\xff.sqlite3\"\n")
    with pytest.raises(ConfigError, match=r"^.*k.toml: not valid TOML: not UTF-8 text$"):
        load_settings(path)


@pytest.mark.parametrize("base_url", ["http://", "https://", "http:///oai", "http://:8080/oai",
                                      "http://oai@/oai", "http://oai.natlib.uz:99999/oai",
                                      "http://oai.natlib.uz:0/oai", "http://oai natlib.uz/oai"])
def test_a_base_url_names_a_host_and_a_port_one_can_reach(base_url):
    """Identify announced ``http://`` (no host) as the baseURL, which no harvester can reach,
    and a port of 99999: the base URL was checked for its scheme and RFC 3986 only."""
    with pytest.raises(ConfigError) as refused:
        settings_from_mapping({"repository": {"base_url": base_url}}, origin="k.toml")
    assert str(refused.value) == (
        "k.toml: repository.base_url: expected an http:// or https:// URL naming a host (and a "
        f"port from 1 to 65535, if any), got {base_url!r}")


@pytest.mark.parametrize("base_url", ["http://[::1]:8080/oai", "https://oai.natlib.uz/oai",
                                      "http://127.0.0.1:65535/oai", "http://oai.natlib.uz:1"])
def test_a_base_url_with_a_host_is_taken(base_url):
    settings = settings_from_mapping({"repository": {"base_url": base_url}})
    assert settings.repository.base_url == base_url
