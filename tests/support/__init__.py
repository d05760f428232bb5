"""Shared helpers for the test suite: real servers (servers.py) and a real browser (browser.py)."""
