"""Conformance of the guard on real ASGI servers: the same outcome on all seven setups."""
