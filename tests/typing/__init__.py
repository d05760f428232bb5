"""Small apps written as each framework's docs write them, checked with ``mypy --strict``."""
