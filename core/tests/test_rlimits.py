"""raise_open_file_limit, alone and at the start of a real heapster daemon."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

from heapster.testing.net import free_port
from heapster.testing.processes import listening, start_process, stop_process

LOW = 256


def _lower_soft_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (LOW, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))


def _open_files_limits(pid: int) -> tuple[str, str]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return soft, hard
    raise AssertionError("no 'Max open files' line")


def test_the_soft_limit_is_raised_to_the_hard_limit() -> None:
    code = ("from heapster.rlimits import raise_open_file_limit; import resource; "
            "print(*raise_open_file_limit(), *resource.getrlimit(resource.RLIMIT_NOFILE))")
    out = subprocess.run([sys.executable, "-c", code], preexec_fn=_lower_soft_limit, capture_output=True,
                         text=True, check=True).stdout.split()
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    assert hard > LOW, "the test needs a hard limit above its low soft limit"
    assert [int(v) for v in out] == [LOW, hard, hard, hard]


def test_the_daemon_raises_its_soft_limit_at_start(tmp_path: Path) -> None:
    port = free_port()
    heapster = Path(sys.executable).with_name("heapster")
    process = start_process([str(heapster), "--source=static:", f"--heapster_port={port}", "--listen_ip=127.0.0.1"],
                            tmp_path / "heapster.log", lambda: listening(port), what="heapster",
                            preexec_fn=_lower_soft_limit)
    try:
        soft, hard = _open_files_limits(process.pid)
    finally:
        stop_process(process)
    assert soft == hard != str(LOW)
