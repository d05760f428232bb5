"""Starlette's and FastAPI's own WebSocket tests, run raw and behind the guard."""
