"""Settings precedence: command line > environment > configs/*.yaml > built-in default."""

from __future__ import annotations

from pathlib import Path

import pytest

from core import settings as settings_module
from core.settings import PROJECT_ROOT, Settings, load_settings


@pytest.fixture
def config_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(settings_module, "CONFIG_DIR", tmp_path)
    for name in ("PUMPDASH_DB_PORT", "PUMPDASH_WEB_PORT", "PUMPDASH_DATA_DIR", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_default_when_nothing_set(config_dir):
    settings = load_settings()

    assert settings.db_port == 55432
    assert settings.web_port == 8501
    assert settings.data_dir == PROJECT_ROOT / "data"
    assert settings.uses_embedded_server is True


def test_yaml_overrides_default(config_dir):
    (config_dir / "database.yaml").write_text("db_port: 60001\nweb_port: 8600\n", encoding="utf-8")

    settings = load_settings()

    assert settings.db_port == 60001
    assert settings.web_port == 8600


def test_environment_overrides_yaml(config_dir, monkeypatch):
    (config_dir / "database.yaml").write_text("db_port: 60001\n", encoding="utf-8")
    monkeypatch.setenv("PUMPDASH_DB_PORT", "60002")
    monkeypatch.setenv("PUMPDASH_DATA_DIR", "/srv/pumpdash")

    settings = load_settings()

    assert settings.db_port == 60002
    assert settings.data_dir == Path("/srv/pumpdash")


def test_command_line_overrides_environment(config_dir, monkeypatch):
    monkeypatch.setenv("PUMPDASH_DB_PORT", "60002")

    settings = load_settings(db_port=60003, web_port=None)

    assert settings.db_port == 60003
    assert settings.web_port == 8501


def test_database_url_disables_embedded_server(config_dir, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://reader:secret@127.0.0.1:5432/pumpdash")

    settings = load_settings()

    assert settings.uses_embedded_server is False
    assert "secret" not in repr(settings)


def test_invalid_port_names_the_setting(config_dir, monkeypatch):
    monkeypatch.setenv("PUMPDASH_DB_PORT", "80")

    with pytest.raises(ValueError) as error:
        load_settings()

    assert "db_port" in str(error.value)


def test_every_setting_documented():
    undocumented = [name for name, field in Settings.model_fields.items() if not field.description]

    assert undocumented == []


def test_shipped_yaml_files_use_known_settings():
    import yaml

    known = set(Settings.model_fields) | {"profiles"}
    for name in settings_module.YAML_FILES:
        keys = set(yaml.safe_load((PROJECT_ROOT / "configs" / name).read_text(encoding="utf-8")) or {})
        assert keys - known == set(), name
