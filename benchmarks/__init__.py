"""Benchmarks of asgi-closeguard: the guard's cost per message, end to end, in memory and at import.

Each benchmark is a module run with ``python -m benchmarks.<name>`` from the repository root;
``--small`` runs it with tiny numbers (what the smoke tests do). See ``docs/performance.md``.
"""
