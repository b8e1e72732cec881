"""A third-party sink distribution works by entry point alone, and its removal brings back a clear error."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from heapster.testing.net import PATIENCE, wait_until

REPO = Path(__file__).resolve().parent.parent

PLUGIN = REPO / "tests" / "plugins" / "sink-jsonl"


def pip(venv: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "-q",
                    "--disable-pip-version-check", *args], check=True)


def heapster(venv: Path, *args: str, **kwargs: object) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([str(venv / "bin" / "python"), "-m", "heapster.cli", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)  # type: ignore[call-overload]


def test_install_use_and_uninstall_a_third_party_sink(fresh_venv: Path, tmp_path: Path) -> None:
    out_file = tmp_path / "batches.jsonl"
    sink_flag = f"--sink=jsonl:?path={out_file}"

    # Not installed: a usage error naming the installed keys.
    proc = heapster(fresh_venv, "--source=static:?nodes=2", sink_flag, "--disable_metric_sink",
                    "--heapster_port=0")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "no sink 'jsonl'; installed: " in err and "log" in err

    pip(fresh_venv, "install", "--no-deps", str(PLUGIN))
    listing = subprocess.run([str(fresh_venv / "bin" / "python"), "-m", "heapster.cli", "plugins"],
                             capture_output=True, text=True, check=True).stdout
    assert any(line.split()[1:4] == ["heapster-sink-jsonl", "0.1.0", "sink:"] and line.endswith("sink: jsonl")
               for line in listing.splitlines())

    # Installed: the daemon exports to it (resolution 5 s: the first batch comes within ~10 s).
    proc = heapster(fresh_venv, "--source=static:?nodes=2&pods=1&containers=1", sink_flag,
                    "--metric_resolution=5s", "--disable_metric_sink", "--heapster_port=0")
    wait_until(lambda: out_file.exists() and out_file.read_text().strip(), timeout=PATIENCE, interval=0.2,
               what="a first batch in the jsonl sink")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    first = json.loads(out_file.read_text().splitlines()[0])
    assert "node:node-0" in first["keys"] and "node:node-1" in first["keys"]

    pip(fresh_venv, "uninstall", "-y", "heapster-sink-jsonl")
    proc = heapster(fresh_venv, "--source=static:", sink_flag)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "no sink 'jsonl'" in err
