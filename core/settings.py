"""Settings with the precedence command line > environment > configs/*.yaml > default."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = Path(os.environ.get("PUMPDASH_CONFIG_DIR", PROJECT_ROOT / "configs"))
YAML_FILES = ("database.yaml", "ingest.yaml", "logging.yaml")


class Settings(BaseSettings):
    """Every setting of the product, declared once with its default and unit."""

    model_config = SettingsConfigDict(env_prefix="PUMPDASH_", extra="ignore")

    data_dir: Path = Field(Path("data"), description="Folder for the embedded server, runs and logs.")
    database_url: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("DATABASE_URL", "PUMPDASH_DATABASE_URL", "database_url"),
        description="External PostgreSQL 15-18; when set, no embedded server is started.",
    )
    read_database_url: SecretStr | None = Field(
        None,
        description="Login role of the dashboard's read pool (member of pumpdash_read); unset: provisioned at start.",
    )
    write_database_url: SecretStr | None = Field(
        None,
        description="Login role of the dashboard's write pool (member of pumpdash_write); unset: provisioned at start.",
    )
    import_database_url: SecretStr | None = Field(
        None,
        description="Login role of the import page and `import` (member of pumpdash_import); unset: provisioned.",
    )
    maint_database_url: SecretStr | None = Field(
        None,
        description="Login role of the scheduler sidecar and `refresh` (member of pumpdash_maint); unset: provisioned.",
    )
    db_port: int = Field(55432, ge=1024, le=65535, description="TCP port of the embedded server on 127.0.0.1.")
    db_name: str = Field("pumpdash", description="Database created on the embedded server.")
    db_server_settings: dict[str, str] = Field(
        default_factory=dict, description="postgresql.conf settings passed to the embedded server at start."
    )
    db_start_timeout_s: int = Field(60, ge=5, description="How long `db start` waits for the server.")
    pool_min_size: int = Field(1, ge=0, description="Connections kept open per pool.")
    pool_max_size: int = Field(8, ge=1, description="Connections at most per pool.")
    statement_timeout_ms: int = Field(30_000, ge=0, description="Read pool statement_timeout; 0 disables it.")
    web_port: int = Field(8501, ge=1024, le=65535, description="Port of the Streamlit dashboard on 127.0.0.1.")
    default_timezone: str = Field("Asia/Shanghai", description="IANA zone for stations created without one.")
    import_upload_max_mb: int = Field(
        200, ge=1, le=2048, description="Largest file the import page accepts, in MB.",
    )
    overview_stale_after_min: int = Field(
        30, ge=1, le=1440,
        description="Minutes without a reading after which the overview marks a station as not reporting.",
    )
    ingest_batch_rows: int = Field(200_000, ge=1000, description="Readings staged and merged per transaction.")
    ingest_partition_horizon_months: int = Field(
        240, ge=1, description="How far from today an import may create monthly partitions."
    )
    demo_stations: int = Field(3, ge=1, le=500, description="Stations the demo generator creates.")
    demo_days: int = Field(60, ge=1, le=3650, description="Days of demo history up to now.")
    demo_interval_min: int = Field(15, ge=1, le=1440, description="Minutes between demo samples.")
    auth_max_failed_logins: int = Field(
        5, ge=1, le=100, description="Wrong passwords within auth_failure_window_min that lock an account."
    )
    auth_failure_window_min: int = Field(
        15, ge=1, le=1440, description="Minutes over which wrong passwords are counted towards a lockout."
    )
    auth_lockout_min: int = Field(15, ge=1, le=1440, description="Minutes an account stays locked.")
    auth_idle_timeout_min: int = Field(
        30, ge=1, le=1440, description="Minutes without any click after which a dashboard session signs out."
    )
    language: Literal["zh-CN", "en"] = Field("zh-CN", description="Language of CLI output and the dashboard's default.")
    log_format: Literal["json", "text"] = Field("text", description="Log line format.")
    log_routing: Literal["by_run", "by_module"] = Field("by_module", description="One log file per run or per module.")
    log_level: str = Field("INFO", description="Minimum level written to log files.")

    @field_validator("data_dir")
    @classmethod
    def _anchor_data_dir(cls, value: Path) -> Path:
        # A relative data folder is taken from the project root, so the CLI,
        # Streamlit and the sidecar agree whatever their working directory.
        return value if value.is_absolute() else PROJECT_ROOT / value

    @property
    def uses_embedded_server(self) -> bool:
        return self.database_url is None

    @property
    def pg_dir(self) -> Path:
        return self.data_dir / "pg"

    @property
    def runs_dir(self) -> Path:
        return self.data_dir / "runs"

    @property
    def inbox_dir(self) -> Path:
        return self.data_dir / "inbox"

    @property
    def archive_dir(self) -> Path:
        return self.data_dir / "archive"

    @property
    def failed_dir(self) -> Path:
        return self.data_dir / "failed"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_files = [CONFIG_DIR / name for name in YAML_FILES if (CONFIG_DIR / name).exists()]
        yaml_source = YamlConfigSettingsSource(settings_cls, yaml_file=yaml_files, yaml_file_encoding="utf-8")
        return (init_settings, env_settings, yaml_source)


def load_settings(**overrides: Any) -> Settings:
    """Build settings; `overrides` are command-line values and win over everything else."""
    given = {key: value for key, value in overrides.items() if value is not None}
    return Settings(**given)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings of this process, read once."""
    return load_settings()
