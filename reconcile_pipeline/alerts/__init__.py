"""Alerts (DESIGN §6): rules (signals.py, rules.py: pure), channels, the alerts table, the engine."""
