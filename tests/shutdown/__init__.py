"""Shutdown: real servers signalled with WebSockets open, raw and behind the guard."""
