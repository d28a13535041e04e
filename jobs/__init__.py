"""Maintenance jobs run by the scheduler sidecar; each job calls SQL functions through core.db."""
