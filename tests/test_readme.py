"""The README as a contract: its quick-start commands, exactly as written, in a fresh clone.

The test clones this repository's committed HEAD (commit before running it) into a
temporary directory and runs, from the README's "Quick start" section:

* ``make demo-headless`` as written: it builds ``.venv`` in the clone, as on a new
  machine, and must exit 0 with data through every stage;
* the "By hand" block line by line, read from the README (not copied here): a line
  ending in ``&`` starts a background job, ``kill %N`` stops job N as a shell would,
  every other line runs in the foreground and must exit 0. Each known command must also
  say something meaningful (``config check`` says ok, ``order list`` shows the order the
  plant released, ...). Queries (status, history, list, export), which depend on the
  agent having caught up, are retried for up to a minute; every other line runs once.

``make demo`` (the interactive terminal; ``tests/test_demo.py`` drives it) and ``make
test`` (this suite) are the two quick-start lines it does not run.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from sync.broker import mosquitto_binary
from tests.conftest import REPO

#: Quick-start lines the test does not run, and why.
NOT_RUN = {
    "make demo": "interactive terminal (tests/test_demo.py drives it through a pty)",
    "make test": "the test suite itself",
}
#: How long a query may take to show what the README promises (the agent connecting,
#: the plant's order arriving, the aggregator's status catching up).
SETTLE_S = 60.0


def quick_start() -> str:
    text = (REPO / "README.md").read_text()
    start = text.index("## Quick start")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def sh_blocks(section: str) -> list[tuple[str, list[str]]]:
    """Each ```sh block with the paragraph before it."""
    out = []
    for m in re.finditer(r"```sh\n(.*?)```", section, re.S):
        before = section[: m.start()].rstrip().split("\n\n")[-1]
        out.append((before, m.group(1).splitlines()))
    return out


@dataclass
class Line:
    text: str  # as in the README
    code: str  # without its comment and trailing `&`
    argv: list[str]
    background: bool

    @classmethod
    def parse(cls, text: str) -> Line | None:
        argv = shlex.split(text, comments=True)
        if not argv:
            return None
        code = re.split(r"\s+#", text, maxsplit=1)[0].strip()
        background = argv[-1] == "&"
        if background:
            argv = argv[:-1]
            code = code[:-1].rstrip()
        assert shlex.split(code) == argv, f"cannot tell the comment from the command in: {text}"
        return cls(text, code, argv, background)


def readme_lines() -> tuple[list[Line], list[Line]]:
    """The quick-start block and the "By hand" block, parsed."""
    blocks = sh_blocks(quick_start())
    assert blocks, "README: no ```sh block in the Quick start section"
    first = [ln for t in blocks[0][1] if (ln := Line.parse(t))]
    by_hand = [b for before, b in blocks if before.startswith("By hand")]
    assert by_hand, "README: no ```sh block after a paragraph starting with 'By hand'"
    return first, [ln for t in by_hand[0] if (ln := Line.parse(t))]


@dataclass
class Shell:
    """Runs README lines in the clone the way a shell would, keeping background jobs."""

    cwd: Path
    env: dict[str, str]
    jobs: list[tuple[Line, subprocess.Popen[bytes], Path]] = field(default_factory=list)

    def background(self, line: Line) -> None:
        log = self.cwd / f"job{len(self.jobs) + 1}.log"
        with open(log, "wb") as f:
            p = subprocess.Popen(
                ["bash", "-c", "exec " + line.code],
                cwd=self.cwd,
                env=self.env,
                stdout=f,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.jobs.append((line, p, log))

    def run(self, line: Line, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", line.code],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def check_jobs_alive(self, after: str) -> None:
        for line, p, log in self.jobs:
            if p.poll() is not None:
                pytest.fail(
                    f"background job `{line.code}` exited {p.returncode} before `{after}`:\n{log.read_text()}"
                )

    def kill(self, line: Line) -> None:
        """`kill %4 %3 …`: SIGTERM to each job in the order named; each must stop cleanly."""
        numbers = [int(a[1:]) for a in line.argv[1:]]
        assert all(1 <= n <= len(self.jobs) for n in numbers), (
            f"`{line.text}`: only {len(self.jobs)} jobs started"
        )
        for n in numbers:
            self.jobs[n - 1][1].send_signal(signal.SIGTERM)
        for n in numbers:
            job, p, log = self.jobs[n - 1]
            try:
                rc = p.wait(60)
            except subprocess.TimeoutExpired:
                pytest.fail(f"`{job.code}` did not stop within 60 s of SIGTERM")
            assert rc == 0, f"`{job.code}` exited {rc} on SIGTERM:\n{log.read_text()}"

    def stop_all(self) -> None:
        for _line, p, _log in self.jobs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def expectations(line: Line, by_hand: list[Line]) -> list[str]:
    """What the output must contain for the known commands (in stdout or stderr)."""
    code, argv = line.code, line.argv
    order = next(
        (ln.argv[ln.argv.index("--order") + 1] for ln in by_hand if "aggregator order add" in ln.code), None
    )
    if "config check" in code:
        return [f"{f}: ok (" for f in argv if f.endswith(".yaml")]
    if "aggregator order add" in code:
        return [f"queued work order {order}"]
    if "aggregator status" in code:
        return ["acme/hamburg/filling/line1", "yes", *([order] if order else [])]
    if re.search(r"lineside status\b", code):
        return ["connected", "good", "uplink: connected"]
    if "lineside history" in code:
        return [",good,"]
    if "order list" in code:
        return [order or "released"]
    if "order start" in code:
        return [f"start {order} queued" if order else "queued"]
    if "lineside export" in code and "audit" in argv:
        return ['"action": "order.start"']
    return []


def fixed_ports_in_use() -> list[int]:
    data = yaml.safe_load((REPO / "config" / "line1.yaml").read_text())
    ports = [int(d["port"]) for d in data["devices"] if "port" in d]
    ports += [int(m.group(1)) for d in data["devices"] if (m := re.search(r":(\d+)/", d.get("endpoint", "")))]
    ports.append(int(data["uplink"]["mqtt"]["port"]))
    agg = yaml.safe_load((REPO / "config" / "aggregator.yaml").read_text())
    if agg.get("web"):
        ports.append(int(agg["web"].get("port", 8080)))  # `aggregator run` serves the web view
    busy = []
    for port in ports:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                busy.append(port)
    return busy


def clean_env() -> dict[str, str]:
    """The environment of a person at a fresh terminal: no virtualenv of this checkout,
    no make variables from a `make test` that runs this test."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "MAKEFLAGS", "MAKELEVEL", "MFLAGS")
    }
    venv_bin = str(REPO / ".venv" / "bin")
    env["PATH"] = ":".join(p for p in env.get("PATH", "/usr/bin:/bin").split(":") if p != venv_bin)
    env.pop("PYTHONPATH", None)
    return env


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.skipif(
    mosquitto_binary() is None, reason="mosquitto is not installed (apt-get install mosquitto)"
)
def test_readme_quick_start_runs_verbatim_in_a_fresh_clone(tmp_path: Path) -> None:
    first, by_hand = readme_lines()
    busy = fixed_ports_in_use()
    assert not busy, (
        f"ports {busy} are in use here: the README's by-hand block uses the example's fixed ports"
    )
    clone = tmp_path / "lineside"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True, timeout=120)
    shell = Shell(clone, clean_env())

    ran_make = []
    for line in first:
        if line.code in NOT_RUN:
            continue
        assert line.code == "make demo-headless", (
            f"quick start: `{line.code}` is new here; teach this test about it"
        )
        p = shell.run(line, timeout=900)
        assert p.returncode == 0, f"`{line.text}` exited {p.returncode}:\n{p.stdout}\n{p.stderr}"
        assert "rows committed at aggregator" in p.stdout and "FAILED" not in p.stdout, p.stdout
        ran_make.append(line.code)
    assert ran_make == ["make demo-headless"]
    assert (clone / ".venv" / "bin" / "lineside").exists(), "make did not build the clone's own venv"

    try:
        for line in by_hand:
            if line.background:
                shell.background(line)
                continue
            if line.argv[0] == "kill" and all(a.startswith("%") for a in line.argv[1:]):
                shell.kill(line)
                continue
            shell.check_jobs_alive(line.code)
            want = expectations(line, by_hand)
            end = time.time() + SETTLE_S
            while True:
                p = shell.run(line)
                out = p.stdout + p.stderr
                missing = [w for w in want if w not in out]
                if p.returncode == 0 and not missing:
                    break
                query = any(w in line.argv for w in ("status", "history", "list", "export"))
                if not query or time.time() > end:
                    pytest.fail(f"`{line.text}` exited {p.returncode}, missing {missing}:\n{out}")
                time.sleep(2)
        assert all(p.poll() is not None for _l, p, _log in shell.jobs), (
            "the block leaves background jobs running"
        )
    finally:
        shell.stop_all()
