"""Dagster resources: the settings, from which each layer's client is built."""

from __future__ import annotations

from dagster import ConfigurableResource

from ..settings import Settings, load_settings


class SettingsResource(ConfigurableResource):
    """The pipeline's settings: environment plus an optional TOML file.

    ``config_path`` unset means ``RECONCILE_CONFIG`` (if set) or the environment alone. Secrets stay
    in the environment or the TOML file; they never pass through Dagster config, so they never show
    in the UI.
    """

    config_path: str | None = None

    def load(self) -> Settings:
        return load_settings(self.config_path)
