"""Every shell command of the README and ``docs/`` runs as written, or is marked as an example.

Each fenced shell block (```` ```sh ````, ```` ```bash ````, or no language) is sorted by what its
command starts with, and each kind is run the way a user runs it:

``cli``
    ``asgi-closeguard …``: as written, in a scratch directory, with the project's environment
    on ``PATH``; it must exit 0.
``install``
    ``pip install …``: as written, from the checkout, into a fresh virtual environment; then the
    package (and each extra's library) must import there.
``server``
    ``uvicorn app:app …`` and the other servers: as written, in a scratch directory whose
    ``app.py`` holds a guarded app, with the port (``8000`` in the docs) replaced by a free one;
    it must serve, and a crash in a handler must reach a client as 1011. A ``kill …`` block
    right after it stops it, as written; the server must then be gone.
``demo``
    The README's first command: as written, in a copy of the checkout, with the demo's port
    (``--port``) set to a free one; the page must be served.
``suite``
    The README's whole-test-suite command: ``.ci/run`` runs it verbatim, last, on every CI run.
``pytest``
    Pieces of the suite (``python -m pytest …``): running them here would run the suite inside
    itself, so the same command runs with ``--collect-only``: the paths, markers and options
    it names exist.
``module``
    ``python -m tests.…`` and ``python -m benchmarks.…`` (measurements and generators that take
    minutes): ``--help`` is added, so the module and its arguments' choices are checked; the
    figures they produce are checked where the page that shows them says.
``python``
    ``python -c "…"``: as written, from the checkout.

A block of any other kind must be marked as an example: a value to replace written as
``<placeholder>``. A new kind of command fails :func:`test_every_command_has_a_way_to_run`.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.docs.markdown import Block, code_blocks
from tests.support.servers import REPO_ROOT, free_port

PAGES = (REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md")))
SHELL = ("sh", "shell", "bash", "console", "")
VENV_BIN = Path(sys.executable).parent

#: The port the docs write; a test replaces it with a free one.
DOC_PORT = "8000"
PLACEHOLDER = re.compile(r"<[a-z][a-z0-9 _-]*>")

#: The app a server command serves in its scratch directory (``app:app``).
SCRATCH_APP = """\
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute

from asgi_closeguard import CloseGuardMiddleware


async def health(request):
    return PlainTextResponse("ok")


async def crash(websocket):
    await websocket.accept()
    raise RuntimeError("boom")


app = Starlette(routes=[Route("/", health), WebSocketRoute("/crash", crash)])
app.add_middleware(CloseGuardMiddleware)
"""

_SERVERS = ("uvicorn ", "hypercorn ", "gunicorn ", "daphne ", "granian ")

#: Blocks of pages maintained with another part of the project that do not run as written yet:
#: ``{(page, first words of the block): what the page must change}``. They are left out until
#: their page changes; an entry that matches nothing any more is simply unused (remove it).
PENDING: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Command:
    """One fenced shell block of a page."""

    block: Block
    kind: str

    @property
    def text(self) -> str:
        return self.block.text

    def __str__(self) -> str:
        return f"{self.block.where()}: {self.text.splitlines()[0]}"


def kind_of(text: str) -> str:
    """How a block is run (see the module's docstring); ``"unknown"`` if it cannot be."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    if PLACEHOLDER.search(text):
        return "example"
    if first.startswith("python3.11 -m venv .venv &&") and "demo_app" in first:
        return "demo"
    if first.startswith("python3.11 -m venv .venv &&") and "pytest" in first:
        return "suite"
    rules = (
        ("cli", ("asgi-closeguard ",)),
        ("install", ("pip install ",)),
        ("server", _SERVERS),
        ("stop", ("kill ",)),
    )
    for kind, prefixes in rules:
        if all(line.startswith(prefixes) for line in _lines(text)):
            return kind
    if all(re.match(r"^(\S+=\S+ )*\S*python -m pytest\b", line) for line in _lines(text)):
        return "pytest"
    if all(
        re.match(r"^(\S+=\S+ )*\S*python -m (tests|benchmarks)\.", line) for line in _lines(text)
    ):
        return "module"
    if all(re.match(r"^\S*python -c ", line) for line in _lines(text)):
        return "python"
    return "unknown"


def _lines(text: str) -> list[str]:
    """The block's commands, continuation lines joined, comments and blank lines left out."""
    joined = re.sub(r"\\\n\s*", "", text)
    lines = [re.split(r"\s+#", line, maxsplit=1)[0].strip() for line in joined.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def commands() -> list[Command]:
    found = []
    for page in PAGES:
        for block in code_blocks(page, *SHELL):
            if not _pending(block):
                found.append(Command(block, kind_of(block.text)))
    return found


def _pending(block: Block) -> bool:
    return any(
        block.path.name == page and block.text.lstrip().startswith(words) for page, words in PENDING
    )


def of_kind(*kinds: str) -> list[Command]:
    return [command for command in commands() if command.kind in kinds]


def _ids(found: list[Command]) -> list[str]:
    return [f"{c.block.path.name}:{c.block.line}" for c in found]


def _environment(bin_dir: Path = VENV_BIN) -> dict[str, str]:
    path = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    environment = {**os.environ, "PATH": path, "PYTHONDONTWRITEBYTECODE": "1"}
    environment.pop("VIRTUAL_ENV", None)
    return environment


def bash(text: str, cwd: Path, *, bin_dir: Path = VENV_BIN, timeout: float = 300) -> str:
    """Run ``text`` as a user pastes it into bash; fail with its output if it fails."""
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", text],
        check=False,
        cwd=cwd,
        env=_environment(bin_dir),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"$ {text}\n{done.stdout}\n{done.stderr}"
    return done.stdout


# --- every block has a way to run ----------------------------------------------------------------


def test_every_command_has_a_way_to_run() -> None:
    unknown = [str(command) for command in of_kind("unknown")]
    assert unknown == [], (
        "run these in tests/docs/test_commands.py, or mark the value to replace as <placeholder>"
    )


def test_every_stop_follows_the_server_it_stops() -> None:
    found = commands()
    for index, command in enumerate(found):
        if command.kind == "stop":
            assert index > 0, str(command)
            assert found[index - 1].kind == "server", str(command)
            assert found[index - 1].block.path == command.block.path, str(command)


def test_the_kinds_are_told_apart() -> None:
    assert kind_of("asgi-closeguard explain 1006   # or: python -m asgi_closeguard\n") == "cli"
    assert kind_of("pip install '.[prometheus]'\n") == "install"
    assert kind_of("uvicorn app:app --port 8000\n") == "server"
    assert kind_of('kill -QUIT "$(cat gunicorn.pid)"\n') == "stop"
    assert kind_of("kill -TERM -<pgid>\n") == "example"
    assert kind_of("UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_cli.py\n") == "pytest"
    assert kind_of(".venv/bin/python -m tests.robustness.load \\\n    --waves 2\n") == "module"
    assert kind_of("rm -rf /\n") == "unknown"


# --- cli, python -------------------------------------------------------------------------------


@pytest.mark.parametrize("command", of_kind("cli"), ids=_ids(of_kind("cli")))
def test_cli_commands_run_as_written(command: Command, tmp_path: Path) -> None:
    assert bash(command.text, tmp_path).strip()


@pytest.mark.slow
@pytest.mark.parametrize("command", of_kind("python"), ids=_ids(of_kind("python")))
def test_python_commands_run_as_written(command: Command) -> None:
    bash(command.text, REPO_ROOT, timeout=600)


# --- install ------------------------------------------------------------------------------------


def _extras(text: str) -> set[str]:
    return {extra for group in re.findall(r"\.\[([^\]]+)\]", text) for extra in group.split(",")}


#: The library each extra brings, to import once it is installed.
EXTRA_MODULES = {"prometheus": "prometheus_client", "opentelemetry": "opentelemetry.metrics"}


@pytest.mark.slow
@pytest.mark.parametrize("command", of_kind("install"), ids=_ids(of_kind("install")))
def test_install_commands_run_as_written_from_the_checkout(
    command: Command, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    bash(command.text, REPO_ROOT, bin_dir=venv / "bin", timeout=600)
    imports = ["asgi_closeguard"] + [EXTRA_MODULES[extra] for extra in _extras(command.text)]
    check = "; ".join(f"import {module}" for module in imports)
    subprocess.run(
        [str(venv / "bin" / "python"), "-c", check], check=True, timeout=120, cwd=tmp_path
    )


def test_install_lines_say_where_the_package_comes_from() -> None:
    # Until it is published, `pip install asgi-closeguard[...]` finds nothing on an index.
    pending = {page for (page, words) in PENDING if words.startswith("pip install")}
    everywhere = [page.read_text(encoding="utf-8") for page in PAGES]
    by_name = [
        f"{page.name}: {line.strip()}"
        for page, text in zip(PAGES, everywhere, strict=True)
        for line in text.splitlines()
        if re.search(r"pip install ['\"]?asgi-closeguard", line) and page.name not in pending
    ]
    assert by_name == [], "write `pip install .` or `pip install '.[extra]'` from a checkout"
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert "pip install '.[prometheus]'" in readme
    assert "pip install '.[opentelemetry]'" in readme


# --- servers ------------------------------------------------------------------------------------


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited"
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"nothing listened on port {port} within {timeout} s")


def _gone(process: subprocess.Popen[bytes], timeout: float) -> bool:
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return False
    return True


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a server this test started, by its process group (it leads one)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        if not _gone(process, 10):
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _with_port(text: str, port: int) -> str:
    assert DOC_PORT in text, f"a server command names its port ({DOC_PORT}) so it can be changed"
    return text.replace(DOC_PORT, str(port))


def _crash_code(port: int) -> int | None:
    import asyncio

    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    async def run() -> int | None:
        async with connect(f"ws://127.0.0.1:{port}/crash", open_timeout=10) as websocket:
            try:
                await asyncio.wait_for(websocket.recv(), 10)
            except ConnectionClosed as closed:
                return None if closed.rcvd is None else closed.rcvd.code
        return None

    return asyncio.run(run())


@contextlib.contextmanager
def serving(text: str, cwd: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """Run the server command ``text`` (its port made free) in ``cwd`` until the block ends."""
    port = free_port()
    log = (cwd / "server.log").open("wb")
    process = subprocess.Popen(
        ["bash", "-c", f"exec {_with_port(text, port).strip()}"],
        cwd=cwd,
        env=_environment(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        try:
            _wait_for_port(port, process, timeout=60)
        except AssertionError as error:
            raise AssertionError(f"{error}\n{(cwd / 'server.log').read_text()}") from None
        yield process, port
    finally:
        _stop(process)
        log.close()


def _server_and_stop() -> list[tuple[Command, Command | None]]:
    found = commands()
    pairs = []
    for index, command in enumerate(found):
        if command.kind == "server":
            after = found[index + 1] if index + 1 < len(found) else None
            pairs.append((command, after if after is not None and after.kind == "stop" else None))
    return pairs


@pytest.mark.server
@pytest.mark.parametrize(
    ("command", "stop"), _server_and_stop(), ids=_ids([c for c, _ in _server_and_stop()])
)
def test_server_commands_run_as_written(
    command: Command, stop: Command | None, tmp_path: Path
) -> None:
    (tmp_path / "app.py").write_text(SCRATCH_APP, encoding="utf-8")
    with serving(command.text, tmp_path) as (process, port):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
            assert response.read() == b"ok"
        assert _crash_code(port) == 1011  # the guard is there
        if stop is not None:
            bash(stop.text, tmp_path, timeout=60)
            assert _gone(process, 15), f"still running after `{stop.text.strip()}`"


def test_gunicorn_started_with_pid_stops_on_sigquit_as_written() -> None:
    # The run itself is test_server_commands_run_as_written; this names the pair deploying.md
    # shows, and checks that the file the kill reads is the one --pid writes.
    pairs = [(c, s) for c, s in _server_and_stop() if c.text.startswith("gunicorn ")]
    assert pairs, "deploying.md starts gunicorn"
    for command, stop in pairs:
        assert stop is not None, str(command)
        (pid_file,) = re.findall(r"--pid (\S+)", command.text)
        assert f'"$(cat {pid_file})"' in stop.text
        assert stop.text.startswith("kill -QUIT ")


# --- the README's first two commands ------------------------------------------------------------


def _copy_of_the_checkout(target: Path) -> Path:
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout.split(b"\0")
    for name in filter(None, files):
        source = REPO_ROOT / name.decode()
        if source.is_file():
            destination = target / name.decode()
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)
    return target


@pytest.mark.server
@pytest.mark.slow
@pytest.mark.parametrize("command", of_kind("demo"), ids=_ids(of_kind("demo")))
def test_the_demo_command_runs_as_written(command: Command, tmp_path: Path) -> None:
    checkout = _copy_of_the_checkout(tmp_path / "checkout")
    port = free_port()
    text = command.text.strip() + f" --port {port}"  # the one change: a free port
    log = (tmp_path / "demo.log").open("wb")
    process = subprocess.Popen(
        ["bash", "-c", text],
        cwd=checkout,
        env={**_environment(), "PATH": os.environ.get("PATH", "")},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        try:
            _wait_for_port(port, process, timeout=600)  # the install comes first
        except AssertionError as error:
            raise AssertionError(f"{error}\n{(tmp_path / 'demo.log').read_text()}") from None
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=20) as response:
            assert response.status == 200
            assert b"closeguard" in response.read().lower()
    finally:
        _stop(process)
        log.close()


def test_the_suite_command_is_what_ci_runs_verbatim() -> None:
    (command,) = of_kind("suite")
    ci = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert ci[-1] == command.text.strip()


def test_the_readme_says_which_debian_packages_the_suite_needs() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    first_screen = "\n".join(readme.splitlines()[:60])
    assert "`apt-get install chromium fonts-noto-cjk haproxy prometheus`" in first_screen
    assert of_kind("suite")[0].text.strip() in first_screen
    assert of_kind("demo")[0].text.strip() in first_screen


# --- pytest and the long-running modules ------------------------------------------------------


@pytest.mark.slow  # collects the whole suite
@pytest.mark.parametrize("command", of_kind("pytest"), ids=_ids(of_kind("pytest")))
def test_pytest_commands_name_what_exists(command: Command) -> None:
    for line in _lines(command.text):
        out = bash(f"{line} --collect-only -q -p no:cacheprovider --no-cov", REPO_ROOT, timeout=600)
        assert re.search(r"\d+ tests? collected|\d+/\d+ tests collected", out), out[-2000:]


@pytest.mark.parametrize("command", of_kind("module"), ids=_ids(of_kind("module")))
def test_module_commands_take_their_arguments(command: Command) -> None:
    for line in _lines(command.text):
        assert "usage:" in bash(f"{line} --help", REPO_ROOT, timeout=120)
