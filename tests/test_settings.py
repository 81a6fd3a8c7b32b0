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


# -- strict settings (issue 18): unknown keys, bad URLs, one line naming the setting ------------------------
def _error(tmp_path, body: str | None = None) -> str:
    config = None
    if body is not None:
        config = tmp_path / "c.toml"
        config.write_text(body)
    with pytest.raises(SettingsError) as err:
        load_settings(config)
    message = str(err.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize(
    "body, expected",
    [
        ('[solana]\nrpc_ulr = "http://127.0.0.1:1"\n', "[solana] rpc_ulr: unknown setting (did you mean rpc_url?)"),
        ("data_dri = 'x'\n", "data_dri: unknown setting (did you mean data_dir?)"),
        ("[solanna]\nrpc_url = 'http://x'\n", "[solanna]: unknown section (did you mean solana?)"),
        ("[ipfs]\nallow_private_adresses = true\n", "did you mean allow_private_addresses?"),
    ],
)
def test_an_unknown_toml_key_names_the_closest_valid_one(tmp_path, body, expected):
    message = _error(tmp_path, body)
    assert expected in message and str(tmp_path / "c.toml") in message


def test_an_unknown_environment_variable_names_the_closest_valid_one(tmp_path, monkeypatch):
    monkeypatch.setenv("RECONCILE_SOLANA__RPC_ULR", "http://127.0.0.1:1")
    expected = "RECONCILE_SOLANA__RPC_ULR: unknown setting (did you mean RECONCILE_SOLANA__RPC_URL?)"
    assert expected in _error(tmp_path)
    monkeypatch.delenv("RECONCILE_SOLANA__RPC_ULR")
    monkeypatch.setenv("reconcile_ipfs__min_gateway", "1")  # pydantic reads names in any case
    assert "reconcile_ipfs__min_gateway: unknown setting (did you mean RECONCILE_IPFS__MIN_GATEWAYS?)" in _error(
        tmp_path
    )


def test_variables_that_are_not_settings_are_left_alone(tmp_path, monkeypatch):
    config = tmp_path / "c.toml"
    config.write_text("[ipfs]\nmin_gateways = 1\n")
    for name in ("RECONCILE_CONFIG", "RECONCILE_REPAIR_CRASH_AFTER_WRITES", "RECONCILE_TEST_ANYTHING"):
        monkeypatch.setenv(name, str(config) if name == "RECONCILE_CONFIG" else "1")
    monkeypatch.setenv("RECONCILE_SOLANA", '{"window_s": 2}')  # a whole section as JSON is a setting too
    settings = load_settings()
    assert settings.ipfs.min_gateways == 1 and settings.solana.window_s == 2


@pytest.mark.parametrize(
    "body, expected",
    [
        ('[solana]\nrpc_url = "not a url"\n', "[solana] rpc_url: 'not a url' is not an http(s) URL (no scheme)"),
        ('[ipfs]\ngateways = ["htp:/nowhere", "ftp://x"]\n', "[ipfs] gateways[0]: 'htp:/nowhere' is not an http(s)"),
        ('[ipfs]\ngateways = ["https://ok", "ftp://x"]\n', "[ipfs] gateways[1]: 'ftp://x' is not an http(s) URL"),
        ('[pinata]\napi_url = "https://"\n', "[pinata] api_url: 'https://' has no host"),
        ('[blockstore]\nkv_api_url = "http://h:99999"\n', "[blockstore] kv_api_url: 'http://h:99999' is not a URL"),
        ('[blockstore]\nr2_endpoint_url = "s3.example"\n', "[blockstore] r2_endpoint_url: 's3.example' is not"),
    ],
)
def test_bad_urls_stop_loading_and_name_the_setting(tmp_path, body, expected):
    assert expected in _error(tmp_path, body)


def test_a_bad_url_set_by_the_environment_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("RECONCILE_IPFS__GATEWAYS", '["https://a.example", "ftp://x"]')
    assert "RECONCILE_IPFS__GATEWAYS[1]: 'ftp://x' is not an http(s) URL" in _error(tmp_path)


def test_bad_secret_urls_are_named_not_shown(tmp_path):
    body = '[alerts]\nslack_webhook_url = "ftp://hooks.example/T0-secret-path"\n[database]\nurl = "pw-secret-dsn"\n'
    message = _error(tmp_path, body)
    assert "[alerts] slack_webhook_url: the URL is not an http(s) URL" in message
    assert "[database] url: not a database URL" in message
    assert "T0-secret-path" not in message and "pw-secret-dsn" not in message


def test_good_and_empty_optional_urls_load(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(
        '[ipfs]\ngateways = ["http://127.0.0.1:8081", "https://[::1]:8443/x"]\nallow_private_addresses = true\n'
        '[blockstore]\nr2_endpoint_url = ""\n[alerts]\nwebhook_url = ""\n[database]\nurl = "postgresql://u:p@h/db"\n'
    )
    settings = load_settings(config)
    assert settings.ipfs.gateways[1] == "https://[::1]:8443/x" and settings.blockstore.r2_endpoint_url == ""
