"""The rolling-deploy table of docs/deploying.md keeps its claims, figure by figure.

The table is ``python -m benchmarks.deploy --markdown`` pasted as it printed (300 clients, a 5 s
spread, with the commit and the date of the run); the suite re-runs the deploy itself with fewer
clients (``test_rolling_deploy.py``). Here, the published figures: every drained row shows only
the come-back code, a busiest 100 ms within 4 times the mean rate, a drain that took the spread,
a prompt exit and every client back; every raw row a burst.
"""

from __future__ import annotations

import re

from benchmarks.deploy import EXIT_BOUND
from tests.support.servers import REPO_ROOT, SERVER_KINDS

PAGE = REPO_ROOT / "docs" / "deploying.md"
HEADER = "| server | deploy | A's clients got | busiest 100 ms at B |"


def table_rows() -> list[list[str]]:
    lines = PAGE.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(HEADER))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def seconds(cell: str) -> float:
    return float(cell.removesuffix(" s"))


def test_the_deploy_table_keeps_its_claims() -> None:
    rows = table_rows()
    assert sorted({row[0] for row in rows}) == sorted(SERVER_KINDS)
    assert len(rows) == 2 * len(SERVER_KINDS)  # raw and drained, each setup
    busiest_drained = {row[0]: int(row[3]) for row in rows if row[1] != "SIGTERM"}
    for server, deploy, codes, busiest, mean, drain, exited, reconnected in rows:
        got = dict(re.findall(r"([\w ]+?) \((\d+)\)(?:, |$)", codes))
        total, back = map(int, re.fullmatch(r"(\d+) of (\d+)", reconnected).groups())  # type: ignore[union-attr]
        assert total == back, f"{server}: not every client came back"
        if deploy == "SIGTERM":
            # The storm: a burst at B ten times and more what the drain lets through.
            assert int(busiest) >= 10 * busiest_drained[server], (server, busiest)
            continue
        spread = float(re.fullmatch(r"drain ([\d.]+) s, then SIGTERM", deploy).group(1))  # type: ignore[union-attr]
        assert list(got) == ["4012" if server == "daphne" else "1012"], (server, codes)
        assert int(busiest) <= 4 * float(mean), (server, busiest, mean)
        assert seconds(drain) <= spread + 1.5, (server, drain)
        assert seconds(exited) <= 5.0 < EXIT_BOUND, (server, exited)


def test_the_table_says_where_and_when_it_was_measured() -> None:
    text = PAGE.read_text()
    assert re.search(
        r"Measured by `python -m benchmarks.deploy --markdown` on \d{4}-\d\d-\d\d at commit `\w+`",
        text,
    )
