"""Tests of the demo app: routes, scenarios, the wire under a real uvicorn, and a browser."""
