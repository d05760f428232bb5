"""The public face of the package: its names, its types, what importing it costs."""

from __future__ import annotations

import subprocess
import sys

import pytest

import asgi_closeguard


def test_every_public_name_resolves_and_is_listed() -> None:
    for name in asgi_closeguard.__all__:
        assert getattr(asgi_closeguard, name) is not None, name
    assert set(asgi_closeguard.__all__) <= set(dir(asgi_closeguard))


def test_knowledge_names_are_the_knowledge_modules() -> None:
    from asgi_closeguard import _knowledge, describe

    assert describe is _knowledge.describe
    assert asgi_closeguard.LANGUAGES == _knowledge.LANGUAGES


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        asgi_closeguard.nope  # noqa: B018
    with pytest.raises(ImportError):
        from asgi_closeguard import nope  # type: ignore[attr-defined]  # noqa: F401


def test_the_knowledge_loads_on_first_use_only() -> None:
    check = (
        "import sys, asgi_closeguard as g\n"
        "assert 'asgi_closeguard._knowledge' not in sys.modules\n"
        "assert g.describe(1011).sendable\n"
        "assert 'asgi_closeguard._knowledge' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", check], check=True, timeout=60)


def test_the_package_is_typed() -> None:
    from importlib.resources import files

    assert files("asgi_closeguard").joinpath("py.typed").is_file()
