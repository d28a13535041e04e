"""Shared services for the dashboard, the CLI, the scheduler sidecar and tests.

Nothing in this package imports a page or renders anything, so it works
without a browser.
"""
