"""One settings model, read from environment variables and an optional TOML file.

Precedence (highest first): keyword arguments, environment (``RECONCILE_<SECTION>__<FIELD>``,
e.g. ``RECONCILE_IPFS__GATEWAYS='["http://127.0.0.1:8081"]'``), the TOML file (``--config
FILE`` or ``RECONCILE_CONFIG``), the defaults below. The defaults mirror seed 000's
``consistencyConfig``. Secrets are ``SecretStr``: they print as ``**********`` and are only
revealed at the client boundary with ``.get_secret_value()``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

METAPLEX_METADATA_PROGRAM = "metaqbxxUerdq28cj1RbAWkYQm3ybzjb6a8bt518x1s"
LEVEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,19}$"


class SourceImageSettings(BaseModel):
    assets_dir: Path = Path("assets/images")
    backup_dir: Path = Path("backup/assets/images")
    supported_levels: list[str] = ["Bronze", "Silver", "Gold", "Platinum"]
    required_format: str = "png"
    max_size_bytes: int = 5 * 1024 * 1024
    max_pixels: int = 16_000_000
    min_dimension: int = 16
    max_dimension: int = 4096

    @field_validator("supported_levels")
    @classmethod
    def _levels_are_names(cls, levels: list[str]) -> list[str]:
        import re

        bad = [lv for lv in levels if not re.match(LEVEL_NAME_PATTERN, lv)]
        if bad:
            raise ValueError(f"level names must match {LEVEL_NAME_PATTERN} (no paths): {bad}")
        return levels


class HttpSettings(BaseModel):
    """Timeouts, retries and caps shared by the HTTP clients (seed 000 `verification`)."""

    timeout_s: float = 30.0  # immediateCheckTimeout
    max_retry_attempts: int = 3  # maxRetryAttempts
    retry_delay_s: float = 5.0  # retryDelayMs, the first backoff step
    retry_max_delay_s: float = 60.0
    max_concurrency_per_host: int = 16


class SolanaSettings(BaseModel):
    rpc_url: str = "https://api.mainnet-beta.solana.com"
    commitment: str = "confirmed"
    metadata_program_id: str = METAPLEX_METADATA_PROGRAM
    update_authority: str = ""
    require_immutable: bool = True
    accounts_per_call: int = Field(100, ge=1, le=100)
    signatures_per_call: int = Field(256, ge=1, le=256)
    requests_per_window: int = 100
    window_s: float = 10.0


class IpfsSettings(BaseModel):
    gateways: list[str] = ["https://gateway.pinata.cloud", "https://ipfs.io", "https://dweb.link"]
    min_gateways: int = 2  # k of n for IPFS_PROPAGATION_PARTIAL
    max_bytes: int = 10 * 1024 * 1024
    max_json_bytes: int = 1024 * 1024
    timeout_s: float = 30.0
    allow_private_addresses: bool = False  # the local world turns this on explicitly
    url_allowlist: list[str] = []  # extra hosts whose URLs may be fetched as they are
    known_gateway_hosts: list[str] = ["gateway.pinata.cloud", "ipfs.io", "dweb.link", "cloudflare-ipfs.com"]
    archive_dir: Path = Path("data/content-archive")


class PinataSettings(BaseModel):
    api_url: str = "https://api.pinata.cloud"
    jwt: SecretStr = SecretStr("")
    page_limit: int = Field(1000, ge=1, le=1000)


class DatabaseSettings(BaseModel):
    url: SecretStr = SecretStr("sqlite:///data/reconcile.db")
    echo: bool = False


class BlockStoreSettings(BaseModel):
    kv_api_url: str = "https://api.cloudflare.com/client/v4"
    kv_account_id: str = ""
    kv_namespace_id: str = ""
    kv_api_token: SecretStr = SecretStr("")
    kv_bulk_size: int = Field(100, ge=1, le=100)
    r2_endpoint_url: str = ""
    r2_bucket: str = "vdc"
    r2_region: str = "auto"
    r2_access_key_id: SecretStr = SecretStr("")
    r2_secret_access_key: SecretStr = SecretStr("")
    pending_backlog_max: int = 10  # seed 004: "should be low (< 10 normally)"
    hash_fields: list[str] = ["blockNumber", "timestamp", "previousHash", "transactions", "merkleRoot"]


class ReconciliationSettings(BaseModel):
    frequent_interval_s: int = 300
    regular_interval_s: int = 3600
    deep_interval_s: int = 86400
    frequent_window_s: int = 900  # how far back "recent" reaches for the 5-minute cadence
    delayed_check_timeout_s: float = 600.0  # delayedCheckTimeout
    stuck_pending_after_s: int = 600


class AlertSettings(BaseModel):
    consistency_failure_threshold: int = 3
    reconciliation_failure_threshold: int = 1
    source_image_missing_alert: bool = True
    webhook_url: SecretStr = SecretStr("")
    slack_webhook_url: SecretStr = SecretStr("")


class RepairSettings(BaseModel):
    """Repairs (issue 5): plan, apply, verify."""

    max_attempts: int = 3  # failures before an action moves to the manual-review queue


class ReportSettings(BaseModel):
    """Consistency reports (issue 7)."""

    worst_entities: int = 20


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="RECONCILE_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    data_dir: Path = Path("data")
    source_images: SourceImageSettings = SourceImageSettings()
    http: HttpSettings = HttpSettings()
    solana: SolanaSettings = SolanaSettings()
    ipfs: IpfsSettings = IpfsSettings()
    pinata: PinataSettings = PinataSettings()
    database: DatabaseSettings = DatabaseSettings()
    blockstore: BlockStoreSettings = BlockStoreSettings()
    reconciliation: ReconciliationSettings = ReconciliationSettings()
    alerts: AlertSettings = AlertSettings()
    repairs: RepairSettings = RepairSettings()
    reports: ReportSettings = ReportSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_path = os.environ.get("RECONCILE_CONFIG")
        if toml_path:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(toml_path)))
        return tuple(sources)


class SettingsError(ValueError):
    """Bad settings: says which file and which field."""


def load_settings(config: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Read settings from the environment and, if given (or ``RECONCILE_CONFIG`` is set), a TOML file."""
    from pydantic import ValidationError

    path = Path(config) if config else None
    if path is not None and not path.is_file():
        raise SettingsError(f"config file not found: {path}")
    previous = os.environ.get("RECONCILE_CONFIG")
    try:
        if path is not None:
            os.environ["RECONCILE_CONFIG"] = str(path)
        return Settings(**overrides)
    except ValidationError as exc:
        where = f" in {path or previous}" if (path or previous) else ""
        raise SettingsError(f"invalid settings{where}:\n{exc}") from None
    except Exception as exc:  # tomllib.TOMLDecodeError and friends
        raise SettingsError(f"cannot read settings from {path or previous}: {exc}") from None
    finally:
        if path is not None:
            if previous is None:
                os.environ.pop("RECONCILE_CONFIG", None)
            else:
                os.environ["RECONCILE_CONFIG"] = previous
