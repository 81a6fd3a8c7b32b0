"""Settings: defaults from seed 000, environment and TOML precedence, secrets masked, clear errors."""

from __future__ import annotations

import pytest

from reconcile_pipeline.settings import SettingsError, load_settings


def test_defaults_follow_seed_000_consistency_config():
    settings = load_settings()
    assert settings.http.timeout_s == 30.0
    assert settings.http.max_retry_attempts == 3
    assert settings.http.retry_delay_s == 5.0
    assert settings.reconciliation.frequent_interval_s == 300
    assert settings.reconciliation.regular_interval_s == 3600
    assert settings.reconciliation.deep_interval_s == 86400
    assert settings.reconciliation.delayed_check_timeout_s == 600
    assert settings.source_images.supported_levels == ["Bronze", "Silver", "Gold", "Platinum"]
    assert settings.source_images.max_size_bytes == 5 * 1024 * 1024
    assert settings.alerts.consistency_failure_threshold == 3
    assert settings.alerts.reconciliation_failure_threshold == 1
    assert settings.solana.accounts_per_call == 100 and settings.solana.signatures_per_call == 256


def test_toml_then_environment_wins(tmp_path, monkeypatch):
    config = tmp_path / "c.toml"
    config.write_text('[solana]\nrpc_url = "http://127.0.0.1:1"\n[ipfs]\nmin_gateways = 3\n')
    monkeypatch.setenv("RECONCILE_IPFS__MIN_GATEWAYS", "1")
    settings = load_settings(config)
    assert settings.solana.rpc_url == "http://127.0.0.1:1"
    assert settings.ipfs.min_gateways == 1


def test_list_settings_from_environment(monkeypatch):
    monkeypatch.setenv("RECONCILE_IPFS__GATEWAYS", '["http://127.0.0.1:8081", "http://127.0.0.1:8082"]')
    assert load_settings().ipfs.gateways == ["http://127.0.0.1:8081", "http://127.0.0.1:8082"]


def test_secrets_never_print(tmp_path, monkeypatch):
    config = tmp_path / "c.toml"
    config.write_text('[pinata]\njwt = "jwt-secret-value"\n[database]\nurl = "postgresql://u:pw-secret@h/db"\n')
    monkeypatch.setenv("RECONCILE_BLOCKSTORE__KV_API_TOKEN", "kv-secret-token")
    settings = load_settings(config)
    text = repr(settings) + str(settings) + settings.model_dump_json()
    for secret in ("jwt-secret-value", "pw-secret", "kv-secret-token"):
        assert secret not in text
    assert settings.pinata.jwt.get_secret_value() == "jwt-secret-value"


@pytest.mark.parametrize(
    "body, expected",
    [
        ("[solana]\naccounts_per_call = 500\n", "accounts_per_call"),
        ("[source_images]\nsupported_levels = ['Gold', '../etc']\n", "supported_levels"),
        ("[nonsense]\nx = 1\n", "nonsense"),
        ("[solana\nrpc_url = 1", "cannot read settings"),
    ],
)
def test_bad_settings_say_what_and_where(tmp_path, body, expected):
    config = tmp_path / "bad.toml"
    config.write_text(body)
    with pytest.raises(SettingsError) as err:
        load_settings(config)
    assert expected in str(err.value)
    assert str(config) in str(err.value)


def test_missing_config_file_is_a_clear_error(tmp_path):
    with pytest.raises(SettingsError, match="config file not found"):
        load_settings(tmp_path / "absent.toml")
