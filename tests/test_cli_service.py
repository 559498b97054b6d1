"""`hachi service install|uninstall`: the systemd user unit, checked as systemd reads it,
and its command run for real and stopped the way systemd stops it (SIGTERM)."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hachi.cli.service import hachi_command, render_unit
from tests.ports import free_port, port_is_free
from tests.test_cli_serve import REPO, Served, stop, wait_ready


def hachi(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HACHI_")},
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "PYTHONPATH": str(REPO),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "hachi.cli", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def setting(unit: str, key: str) -> list[str]:
    return [line.split("=", 1)[1] for line in unit.splitlines() if line.startswith(f"{key}=")]


def test_the_unit_runs_this_hachi_on_this_library(tmp_path: Path) -> None:
    home = tmp_path / "my photos"
    run = hachi(tmp_path, "--home", str(home), "service", "install", "--print", HACHI_PORT="8687")
    assert run.returncode == 0, run.stderr
    unit = run.stdout
    (exec_start,) = setting(unit, "ExecStart")
    assert shlex.split(exec_start) == [*hachi_command(), "--home", str(home), "serve", "--caddy"]
    assert Path(hachi_command()[0]).parent == Path(sys.executable).parent, "this venv's hachi"
    assert setting(unit, "Environment") == ["HACHI_PORT=8687"]
    assert setting(unit, "KillSignal") == ["SIGTERM"]
    assert setting(unit, "KillMode") == ["mixed"], "hachi stops its Caddy itself"
    assert setting(unit, "Restart") == ["on-failure"]
    assert setting(unit, "RestartPreventExitStatus") == ["2"]
    assert setting(unit, "WantedBy") == ["default.target"]
    assert not (tmp_path / "config").exists(), "--print writes nothing"


def test_odd_characters_are_quoted_for_systemd() -> None:
    unit = render_unit(["/opt/my venv/bin/hachi", "--home", '/data/50% "x"'], {"HACHI_X": "a b"})
    (exec_start,) = setting(unit, "ExecStart")
    assert exec_start == '"/opt/my venv/bin/hachi" --home "/data/50%% \\"x\\""'
    assert setting(unit, "Environment") == ['"HACHI_X=a b"']


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_accepts_the_unit(tmp_path: Path) -> None:
    run = hachi(tmp_path, "--home", str(tmp_path / "lib"), "service", "install", "--lan")
    assert run.returncode == 0, run.stderr
    path = tmp_path / "config" / "systemd" / "user" / "hachi.service"
    verify = subprocess.run(
        ["systemd-analyze", "verify", str(path)], capture_output=True, text=True, timeout=60
    )
    assert verify.returncode == 0 and verify.stderr == "", verify.stderr


def test_install_prints_the_commands_and_uninstall_removes_it(tmp_path: Path) -> None:
    run = hachi(tmp_path, "--home", str(tmp_path / "lib"), "service", "install")
    assert run.returncode == 0, run.stderr
    path = tmp_path / "config" / "systemd" / "user" / "hachi.service"
    assert "ExecStart=" in path.read_text()
    assert "systemctl --user enable --now hachi" in run.stdout
    assert "loginctl enable-linger" in run.stdout
    wants = path.parent / "default.target.wants"
    wants.mkdir()
    (wants / "hachi.service").symlink_to(path)  # what `systemctl --user enable` makes
    gone = hachi(tmp_path, "service", "uninstall")
    assert gone.returncode == 0, gone.stderr
    assert not path.exists() and not (wants / "hachi.service").is_symlink()
    assert "systemctl --user stop hachi" in gone.stdout
    again = hachi(tmp_path, "service", "uninstall")
    assert again.returncode == 0 and "No Hachi service is installed" in again.stdout


def test_the_units_command_stops_on_sigterm_with_exit_0(tmp_path: Path) -> None:
    """What systemd does: run ExecStart with the unit's environment, then send KillSignal."""
    home, port, ui_port = tmp_path / "lib", free_port(), free_port()
    run = hachi(
        tmp_path,
        "--home",
        str(home),
        "service",
        "install",
        "--print",
        "--ui-port",
        str(ui_port),
        HACHI_PORT=str(port),
    )
    unit = run.stdout
    env = {k: v for k, v in os.environ.items() if not k.startswith("HACHI_")}
    env.update(line.split("=", 1) for line in setting(unit, "Environment"))
    env["PYTHONPATH"] = str(REPO)  # this checkout's hachi, not the one the venv installed
    logs = tmp_path / "logs"
    logs.mkdir()
    with (logs / "out").open("wb") as out, (logs / "err").open("wb") as err:
        process = subprocess.Popen(
            shlex.split(setting(unit, "ExecStart")[0]), env=env, stdout=out, stderr=err
        )
    served = Served(process, logs / "out", logs / "err")
    try:
        wait_ready(served)
        assert f":{ui_port}" in served.stdout() or "Caddy is not installed" in served.stderr()
        assert stop(served, signal.SIGTERM) == 0, served.stderr()
    finally:
        if process.poll() is None:
            process.kill()
    assert port_is_free(port) and port_is_free(ui_port)
