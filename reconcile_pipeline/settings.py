"""One settings model, read from environment variables and an optional TOML file.

Precedence (highest first): keyword arguments, environment (``RECONCILE_<SECTION>__<FIELD>``,
e.g. ``RECONCILE_IPFS__GATEWAYS='["http://127.0.0.1:8081"]'``), the TOML file (``--config
FILE`` or ``RECONCILE_CONFIG``), the defaults below. The defaults mirror seed 000's
``consistencyConfig``. Secrets are ``SecretStr``: they print as ``**********`` and are only
revealed at the client boundary with ``.get_secret_value()``.

Strict (:mod:`.settings_strict`): an unknown TOML section or key, an unknown ``RECONCILE_*`` variable, an
endpoint URL without an http(s) scheme and a host, or a bad value raises :class:`SettingsError`, one line naming
each bad setting (and the closest valid name for an unknown one), never its value.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from .settings_strict import (
    HttpUrl,
    OptionalHttpUrl,
    database_url,
    http_url,
    read_toml,
    unknown_env_names,
    unknown_toml_keys,
    validation_problems,
)

METAPLEX_METADATA_PROGRAM = "metaqbxxUerdq28cj1RbAWkYQm3ybzjb6a8bt518x1s"
LEVEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,19}$"


class Section(BaseModel):
    """A settings section: an unknown key is an error (settings are strict: see settings_strict.py)."""

    model_config = ConfigDict(extra="forbid")


class SourceImageSettings(Section):
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


class HttpSettings(Section):
    """Timeouts, retries and caps shared by the HTTP clients (seed 000 `verification`)."""

    timeout_s: float = 30.0  # immediateCheckTimeout
    max_retry_attempts: int = 3  # maxRetryAttempts
    retry_delay_s: float = 5.0  # retryDelayMs, the first backoff step
    retry_max_delay_s: float = 60.0
    max_concurrency_per_host: int = Field(64, ge=1)  # IPFS gateway requests in flight per gateway (see README)


class SolanaSettings(Section):
    rpc_url: HttpUrl = "https://api.mainnet-beta.solana.com"
    commitment: str = "confirmed"
    metadata_program_id: str = METAPLEX_METADATA_PROGRAM
    update_authority: str = ""
    require_immutable: bool = True
    accounts_per_call: int = Field(100, ge=1, le=100)
    signatures_per_call: int = Field(256, ge=1, le=256)
    requests_per_window: int = 100
    window_s: float = 10.0


class IpfsSettings(Section):
    gateways: list[HttpUrl] = ["https://gateway.pinata.cloud", "https://ipfs.io", "https://dweb.link"]
    min_gateways: int = 2  # k of n for IPFS_PROPAGATION_PARTIAL
    max_bytes: int = 10 * 1024 * 1024
    max_json_bytes: int = 1024 * 1024
    timeout_s: float = 30.0
    allow_private_addresses: bool = False  # the local world turns this on explicitly
    url_allowlist: list[str] = []  # extra hosts whose URLs may be fetched as they are
    known_gateway_hosts: list[str] = ["gateway.pinata.cloud", "ipfs.io", "dweb.link", "cloudflare-ipfs.com"]
    archive_dir: Path = Path("data/content-archive")
    # CIDs known to be present (a canary you pin, the level images): a gateway that serves one is readable, so
    # its timeout, 504 or 412 for another CID means it cannot retrieve that CID (empty: CIDs verified this run)
    control_cids: list[str] = []

    @field_validator("control_cids")
    @classmethod
    def _cids(cls, value: list[str]) -> list[str]:
        from .layers.cid import is_cid

        bad = [cid for cid in value if not is_cid(cid)]
        if bad:
            raise ValueError(f"not CIDs: {bad[:3]}")
        return value


class PinataSettings(Section):
    api_url: HttpUrl = "https://api.pinata.cloud"
    jwt: SecretStr = SecretStr("")
    page_limit: int = Field(1000, ge=1, le=1000)


class DatabaseSettings(Section):
    url: SecretStr = SecretStr("sqlite:///data/reconcile.db")
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _database_url(cls, value: SecretStr) -> SecretStr:
        database_url(value.get_secret_value())
        return value


class BlockStoreSettings(Section):
    kv_api_url: HttpUrl = "https://api.cloudflare.com/client/v4"
    kv_account_id: str = ""
    kv_namespace_id: str = ""
    kv_api_token: SecretStr = SecretStr("")
    kv_bulk_size: int = Field(100, ge=1, le=100)
    r2_endpoint_url: OptionalHttpUrl = ""  # empty: not configured (building the R2 client says so)
    r2_bucket: str = "vdc"
    r2_region: str = "auto"
    r2_access_key_id: SecretStr = SecretStr("")
    r2_secret_access_key: SecretStr = SecretStr("")
    pending_backlog_max: int = 10  # seed 004: "should be low (< 10 normally)"
    hash_fields: list[str] = ["blockNumber", "timestamp", "previousHash", "transactions", "merkleRoot"]


class ReconciliationSettings(Section):
    """The four cadences (issue 6, seed 000 `reconciliation`); schedules derive their cron strings from these."""

    frequent_interval_s: int = Field(300, ge=60)
    regular_interval_s: int = Field(3600, ge=60)
    deep_interval_s: int = Field(86400, ge=60)
    frequent_window_s: int = Field(900, ge=1)  # how far back "recent" reaches for the 5-minute cadence
    delayed_check_timeout_s: float = 600.0  # delayedCheckTimeout
    stuck_pending_after_s: int = 600
    deep_at_utc: str = Field("02:30", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")  # when the daily deep run starts
    sensor_interval_s: int = Field(30, ge=5)  # how often the immediate sensor looks for new events
    immediate_max_runs_per_tick: int = Field(50, ge=1)  # the rest wait for the next tick (never dropped)
    immediate_grace_s: int = Field(300, ge=0)  # re-read this far behind the cursor (late commits), deduplicated
    deep_shard_size: int = Field(100_000, ge=1)  # operations (or blocks) per shard of the deep scan (issue 8)


class AlertSettings(Section):
    """Alert rules and channels (issue 6, seed 000 `alerting`); the log channel is always on."""

    consistency_failure_threshold: int = Field(3, ge=1)  # consecutive failing runs before an alert
    reconciliation_failure_threshold: int = Field(1, ge=1)  # a failed repair alerts at once
    source_image_missing_alert: bool = True
    webhook_url: SecretStr = SecretStr("")
    slack_webhook_url: SecretStr = SecretStr("")
    group_min_entities: int = Field(10, ge=2)  # one check failing on this many entities: one grouped alert
    orphan_critical_count: int = Field(10, ge=1)  # "large number of orphaned records": a critical grouped alert
    elevated_failure_rate: float = Field(0.2, gt=0, le=1)  # share of entities failing on one layer: a warning
    notify_info: bool = False  # informational notices go to the webhooks too (the log always gets them)

    @field_validator("webhook_url", "slack_webhook_url")
    @classmethod
    def _webhook_urls(cls, value: SecretStr) -> SecretStr:
        http_url(value.get_secret_value(), optional=True, secret=True)
        return value


class RepairSettings(Section):
    """Repairs (issue 5): plan, apply, verify; and the write credentials repairs use (issue 9).

    Repairs write the platform's layers with credentials of their own, so the snapshots can run with
    credentials that cannot change those layers. Each write credential below is *secret* and, when left
    empty, falls back to the corresponding read credential (one credential for both: fine for a local
    world, not for production). The Solana chain and the gateways are never written; source images are
    files (no credential).
    """

    max_attempts: int = 3  # failures before an action moves to the manual-review queue
    claim_lease_s: float = 600.0  # an unfinished claim older than this (a crashed apply elsewhere) is taken over
    archive_bucket: str = ""  # content archive in this R2/S3 bucket ([blockstore] endpoint, keys); empty: archive_dir
    # the role that may write minting_operations (DB repairs); empty: [database] url
    database_url: SecretStr = SecretStr("")
    # a KV API token with Workers KV Storage:Edit; empty: [blockstore] kv_api_token
    kv_write_token: SecretStr = SecretStr("")
    # an R2 key pair with Object Read & Write (both or neither: the pair is checked when the client is built);
    # empty: the [blockstore] r2_* pair
    r2_write_access_key_id: SecretStr = SecretStr("")
    r2_write_secret_access_key: SecretStr = SecretStr("")
    # a Pinata JWT allowed to pin (pinFileToIPFS); empty: [pinata] jwt
    pinata_write_jwt: SecretStr = SecretStr("")

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: SecretStr) -> SecretStr:
        database_url(value.get_secret_value(), optional=True)
        return value


class ReportSettings(Section):
    """Consistency reports (issue 7)."""

    worst_entities: int = Field(20, ge=0)  # entities listed with their findings
    rows_per_check: int = Field(25, ge=0)  # findings shown per check (all of them are in findings.parquet)
    history_runs: int = Field(30, ge=1)  # runs the trends cover, up to the reported one
    output_dir: Path | None = None  # default: {data_dir}/reports; one folder per run inside
    retention_days: int = Field(30, ge=0)  # per-run snapshot files and reports older than this are pruned (0: never)


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
    """Bad settings, in one line: which file (if any), which setting, what is wrong (never a secret's value)."""


def _where(path: Path | None) -> str:
    return f" in {path}" if path is not None else ""


def check_environment() -> None:
    """SettingsError if the ``RECONCILE_*`` variables alone (``RECONCILE_CONFIG`` aside) are bad settings: for the
    commands that write their own settings file (``world``, ``demo``, ``bench``), which the environment overrides."""
    previous = os.environ.pop("RECONCILE_CONFIG", None)
    try:
        load_settings()
    finally:
        if previous is not None:
            os.environ["RECONCILE_CONFIG"] = previous


def load_settings(config: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Read settings from the environment and, if given (or ``RECONCILE_CONFIG`` is set), a TOML file.

    Strict: an unknown TOML section or key, an unknown ``RECONCILE_*`` variable, a bad URL or value
    raises :class:`SettingsError` naming each bad setting on one line."""
    from pydantic import ValidationError

    previous = os.environ.get("RECONCILE_CONFIG")
    path = Path(config) if config else (Path(previous) if previous else None)
    if path is not None and not path.is_file():
        raise SettingsError(f"config file not found: {path}")
    try:
        document = read_toml(path) if path is not None else {}
    except (OSError, ValueError) as exc:  # tomllib.TOMLDecodeError is a ValueError
        raise SettingsError(f"cannot read settings from {path}: {exc}") from None
    problems = unknown_toml_keys(Settings, document) + unknown_env_names(Settings)
    if problems:
        raise SettingsError(f"bad settings{_where(path)}: " + "; ".join(problems))
    try:
        if config:
            os.environ["RECONCILE_CONFIG"] = str(path)
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(f"bad settings{_where(path)}: " + "; ".join(validation_problems(Settings, exc))) from None
    except Exception as exc:  # anything else a source raises
        raise SettingsError(f"cannot read settings from {path}: {exc}") from None
    finally:
        if config:
            if previous is None:
                os.environ.pop("RECONCILE_CONFIG", None)
            else:
                os.environ["RECONCILE_CONFIG"] = previous
