"""`hachi passwd`, `hachi token` and `hachi sessions` against a real catalog."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest

from hachi.catalog import auth, sessions
from hachi.catalog.db import connect
from hachi.cli import main
from hachi.cli.auth import parse_duration
from hachi.errors import BadRequest


def run(capsys: pytest.CaptureFixture[str], home: Path, *args: str) -> tuple[int, str, str]:
    code = main([*args, "--home", str(home)])
    out, err = capsys.readouterr()
    return code, out, err


def open_sessions(home: Path, count: int) -> list[str]:
    conn = connect(home / "catalog.db")
    try:
        return [sessions.create_session(conn, f"browser {n}", "127.0.0.1") for n in range(count)]
    finally:
        conn.close()


def live(home: Path, secrets: list[str]) -> list[bool]:
    conn = connect(home / "catalog.db")
    try:
        return [sessions.use_session(conn, s) is not None for s in secrets]
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90d", timedelta(days=90)),
        ("12h", timedelta(hours=12)),
        ("2w", timedelta(weeks=2)),
        ("30m", timedelta(minutes=30)),
        (" 7D ", timedelta(days=7)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "90", "d", "0d", "-1d", "1.5d", "3y", "90 days", "999999w"])
def test_parse_duration_refuses_what_it_cannot_read(text: str) -> None:
    with pytest.raises(BadRequest, match="expires"):
        parse_duration(text)


def test_token_with_expiry_is_listed_with_last_use(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    code, token, _ = run(capsys, home, "token", "--name", "backup", "--expires", "90d")
    assert code == 0 and token.startswith("hachi_")
    run(capsys, home, "token", "--name", "forever")
    conn = connect(home / "catalog.db")
    try:
        auth.use_token(conn, token.strip())
    finally:
        conn.close()
    code, listed, _ = run(capsys, home, "token", "--list")
    backup, forever = listed.splitlines()
    assert "backup" in backup and "expires 20" in backup and "last used 20" in backup
    assert "never expires" in forever and "last used never" in forever
    conn = connect(home / "catalog.db")
    try:
        conn.execute("UPDATE tokens SET expires_at = '2000-01-01T00:00:00.000000Z' WHERE id = 1")
    finally:
        conn.close()
    assert "EXPIRED 2000-01-01" in run(capsys, home, "token", "--list")[1]


def test_a_bad_expiry_is_a_clear_user_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run(capsys, tmp_path / "home", "token", "--expires", "soon")
    assert code == 2 and out == ""
    assert "--expires wants a number and a unit" in err and "90d" in err


def test_sessions_list_revoke_and_revoke_all(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    secrets = open_sessions(home, 3)
    code, listed, _ = run(capsys, home, "sessions")
    assert code == 0 and len(listed.splitlines()) == 3 and "browser 1" in listed
    first_id = listed.splitlines()[-1].split("\t")[0]
    assert run(capsys, home, "sessions", "--revoke", first_id)[0] == 0
    assert live(home, secrets) == [False, True, True]
    assert run(capsys, home, "sessions", "--revoke", first_id)[0] == 2
    code, _, err = run(capsys, home, "sessions", "--revoke-all")
    assert code == 0 and "2 sessions" in err
    assert live(home, secrets) == [False, False, False]


def test_passwd_logs_every_browser_out(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    secrets = open_sessions(home, 2)
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    code, _, err = run(capsys, home, "passwd", "--stdin")
    assert code == 0 and "logged out" in err
    assert live(home, secrets) == [False, False]


def test_login_link_mints_a_link_for_the_running_server(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    code, out, err = run(capsys, home, "login-link")
    assert code == 0 and "works once" in err
    url = out.strip()
    assert url.startswith("http://127.0.0.1:8686/api/login/link?token=")
    (home / "server-url").write_text("https://localhost:8443\n")  # as `hachi serve` notes it
    code, out, _ = run(capsys, home, "login-link")
    assert out.startswith("https://localhost:8443/api/login/link?token=")
    conn = connect(home / "catalog.db")
    try:
        token = url.split("token=", 1)[1]
        assert auth.redeem_login_link(conn, token) is True
        assert auth.redeem_login_link(conn, token) is False
    finally:
        conn.close()
