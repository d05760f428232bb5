"""Every python snippet of the README runs as written, and says what it does.

Each ```` ```python ```` block is written to a file of its own in a scratch directory and run
with the project's Python: it must import and define everything it uses. A snippet with pytest
tests is run by pytest, and must end the way the README says; one that serves a WebSocket route
and names the close code a client gets is served by uvicorn on a free port, and a client must
get that code.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docs.markdown import Block, code_blocks
from tests.support.servers import REPO_ROOT, run_server

README = REPO_ROOT / "README.md"

#: The README's test that shows what the guard changes for Starlette's TestClient, and how it
#: ends as written; the README then says to remove its `pytest.raises` line.
TEST_CLIENT_CHANGE = "test_echo_written_for_an_app_without_the_guard"


def snippets() -> list[Block]:
    return code_blocks(README, "python")


def _ids(found: list[Block]) -> list[str]:
    return [f"README.md:{block.line}" for block in found]


def run_python(code: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "snippet.py"
    script.write_text(code, encoding="utf-8")
    return subprocess.run(
        [sys.executable, *(args or (str(script),))],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _has_tests(block: Block) -> bool:
    return bool(re.search(r"^def test_", block.text, re.M))


@pytest.mark.parametrize("snippet", snippets(), ids=_ids(snippets()))
def test_every_python_snippet_runs_as_written(snippet: Block, tmp_path: Path) -> None:
    done = run_python(snippet.text, tmp_path)
    assert done.returncode == 0, f"{snippet.where()}\n{done.stdout}\n{done.stderr}"


@pytest.mark.slow  # runs pytest twice in a subprocess
def test_the_testclient_snippet_fails_as_the_readme_says_then_passes(tmp_path: Path) -> None:
    (snippet,) = [block for block in snippets() if TEST_CLIENT_CHANGE in block.text]
    as_written = run_python(
        snippet.text, tmp_path, "-m", "pytest", "-q", "-p", "no:cacheprovider", "snippet.py"
    )
    assert as_written.returncode == 1, as_written.stdout
    assert "DID NOT RAISE" in as_written.stdout
    # "Remove the pytest.raises line": the block under it moves one level out.
    lines = snippet.text.splitlines()
    (index,) = [i for i, line in enumerate(lines) if "pytest.raises(WebSocketDisconnect)" in line]
    fixed = lines[:index] + [line.removeprefix("    ") for line in lines[index + 1 :]]
    after = run_python(
        "\n".join(fixed) + "\n",
        tmp_path,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "snippet.py",
    )
    assert after.returncode == 0, after.stdout


def test_the_readme_says_the_testclient_snippet_fails() -> None:
    text = README.read_text(encoding="utf-8")
    assert 'now fails with "DID NOT RAISE". Remove the `pytest.raises` line' in text
    assert [block for block in snippets() if _has_tests(block)], "the TestClient snippet"


def _served() -> list[tuple[Block, str, int]]:
    """Snippets that serve a WebSocket route and say which code a client gets."""
    found = []
    for block in snippets():
        route = re.search(r'@app\.websocket\("([^"]+)"\)', block.text)
        code = re.search(r"CloseEvent: code (\d{4})", block.text)
        if route and code:
            found.append((block, route.group(1), int(code.group(1))))
    return found


async def _close_code(url: str) -> int | None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    async with connect(url, open_timeout=10) as websocket:
        try:
            await asyncio.wait_for(websocket.recv(), 10)
        except ConnectionClosed as closed:
            return None if closed.rcvd is None else closed.rcvd.code
    return None


@pytest.mark.server
@pytest.mark.parametrize(
    ("snippet", "path", "code"), _served(), ids=_ids([s for s, _, _ in _served()])
)
def test_a_snippet_that_serves_gives_the_code_it_says(
    snippet: Block, path: str, code: int, tmp_path: Path
) -> None:
    package = tmp_path / "readme_snippet_app"
    package.mkdir()
    (package / "__init__.py").write_text(snippet.text, encoding="utf-8")
    env = {"PYTHONPATH": str(tmp_path)}
    with run_server("uvicorn-websockets-sansio", "readme_snippet_app:app", env=env) as server:
        assert asyncio.run(_close_code(server.ws_url(path))) == code


def test_a_snippet_serves_on_the_first_screen() -> None:
    assert _served(), "the first snippet shows the close code a client gets"
    assert _served()[0][0].line < 40


def test_one_guard_per_app_in_every_snippet() -> None:
    # Two add_middleware lines install two guards; the README gives integrations one list.
    for block in snippets():
        assert block.text.count("add_middleware(") <= 1, block.where()
    (observability,) = [block for block in snippets() if "CloseMetrics()" in block.text]
    assert "on_close=[CloseMetrics(), CloseTelemetry()]" in observability.text


def test_what_the_readme_says_of_the_lifespan_is_what_the_contract_says() -> None:
    text = " ".join(README.read_text(encoding="utf-8").split())
    assert "HTTP and lifespan requests go straight to your app, untouched" not in text
    assert "so does the lifespan, except that with an `on_close` the guard watches it" in text


def test_the_readme_says_when_starlette_builds_the_guard_and_how_to_fail_fast() -> None:
    text = " ".join(README.read_text(encoding="utf-8").split())
    assert "Starlette builds its middleware at the app's first call — the lifespan startup" in text
    assert "`--lifespan on`" in text
    commands = [block.text for block in code_blocks(README, "sh")]
    assert any("--lifespan on" in command for command in commands)


def test_the_readme_says_how_many_codes_explain_and_compare_take() -> None:
    text = " ".join(README.read_text(encoding="utf-8").split())
    assert "take any number from 0 to 65535" not in text
    assert "`explain` takes one code and `compare` two" in text
