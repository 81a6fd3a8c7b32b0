"""Repairs (issue 5): plan actions from findings, apply them through the layer clients, verify, record in a ledger."""
