import pytest

from config import ConfigError, Settings, load_settings, settings_from_mapping


def test_defaults_need_no_file(monkeypatch, tmp_path):
    monkeypatch.delenv("KOPRIK_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings == Settings()
    assert settings.server.http_port == 8080
    assert settings.database.url.startswith("sqlite:///var/")


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
        ({"limits": {"max_record_bytes": 10}}, "limits.max_record_bytes: expected 1024 to"),
    ],
)
def test_wrong_keys_name_the_key(data, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        settings_from_mapping(data)


def test_bad_file_is_one_line_error_from_the_command(tmp_path, capsys):
    from koprik.cli import main

    path = tmp_path / "bad.toml"
    path.write_text("[oai]\npage_size = -\n")
    status = main(["--config", str(path), "demo", "--records", "1"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and "not valid TOML" in err
