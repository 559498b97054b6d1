"""The `hachi` command as a user runs it: a real process, a real catalog, real photos."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.photo_factory import Shot, write_photo


def hachi(home: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HACHI_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "hachi.cli", *args],
        env=env,
        input=stdin,
        text=True,
        capture_output=True,
        timeout=300,
    )


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    write_photo(folder / "paris.jpg", Shot(taken="2019:05:04 10:00:00", lat=48.8566, lon=2.3522))
    write_photo(
        folder / "tokyo.jpg",
        Shot(
            taken="2021:01:02 10:00:00",
            make="SONY",
            model="ILCE-7M3",
            lat=35.69,
            lon=139.70,
            seed=2,
        ),
    )
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    (folder / "song.mp3").write_bytes(b"ID3 not a photo")
    return folder


def test_index_then_search_json(tmp_path: Path, photos: Path) -> None:
    home = tmp_path / "home"
    run = hachi(home, "index", str(photos))
    assert run.returncode == 0, run.stderr
    assert "2 indexed" in run.stderr and "1 failed" in run.stderr
    assert "broken.jpg" in run.stderr, "failures are listed with their reasons"
    assert "song.mp3" not in run.stderr, "non-photo files are passed over quietly"

    out = hachi(home, "search", "camera:canon year:2019 place:paris", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["total"] == 1
    hit = data["results"][0]
    assert hit["path"] == str(photos / "paris.jpg")
    assert hit["taken_at"] == "2019-05-04T10:00:00"
    assert "Paris" in hit["place"] and hit["camera"] == "Canon EOS 5D Mark IV"
    assert data["parsed"]["filters"] and data["took_ms"] >= 0
    assert "thumbnail_url" not in hit, "web URLs are the server's, not the CLI's"

    everything = json.loads(hachi(home, "search", "--json").stdout)
    assert everything["total"] == 2 and len(everything["results"]) == 2
    limited = json.loads(hachi(home, "search", "--json", "--limit", "1").stdout)
    assert limited["total"] == 2 and len(limited["results"]) == 1


def test_rerun_reports_unchanged_and_status(tmp_path: Path, photos: Path) -> None:
    home = tmp_path / "home"
    assert hachi(home, "index", str(photos)).returncode == 0
    again = hachi(home, "index", str(photos))
    assert again.returncode == 0
    assert "0 indexed, 3 unchanged" in again.stderr
    status = json.loads(hachi(home, "status", "--json").stdout)
    assert (status["photos"], status["failed"], status["folders"]) == (2, 1, 1)
    folders = json.loads(hachi(home, "folders", "--json").stdout)
    assert folders[0]["path"] == str(photos)


def test_user_errors_exit_2_with_a_message(tmp_path: Path, photos: Path) -> None:
    home = tmp_path / "home"
    bad_query = hachi(home, "search", "camra:canon")
    assert bad_query.returncode == 2
    assert 'unknown filter "camra:"' in bad_query.stderr
    assert "Traceback" not in bad_query.stderr
    for folder in ("/etc", str(tmp_path / "missing"), str(photos / "paris.jpg")):
        run = hachi(home, "index", folder)
        assert run.returncode == 2, folder
        assert "Traceback" not in run.stderr


def test_near_and_within_errors_exit_2_naming_the_token(tmp_path: Path) -> None:
    home = tmp_path / "home"
    for q, token in [
        ("near:91,0,5km", "91"),
        ("near:1,2,5", "5"),
        ('near:"Qwxzv Town",5km', "Qwxzv Town"),
        ("within:5,0,1,1", "within:5,0,1,1"),
    ]:
        run = hachi(home, "search", q)
        assert run.returncode == 2, q
        assert token in run.stderr and "Traceback" not in run.stderr, run.stderr
    found = hachi(home, "search", 'near:"Cape Town",20km', "--json")
    assert found.returncode == 0, found.stderr
    value = json.loads(found.stdout)["parsed"]["filters"][0]["values"][0]
    assert value["resolved"]["country_code"] == "ZA"


def test_passwd_and_token(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert hachi(home, "passwd", "--stdin", stdin="short\n").returncode == 2
    assert hachi(home, "passwd", "--stdin", stdin="correct horse battery\n").returncode == 0
    token = hachi(home, "token", "--name", "backup-script")
    assert token.returncode == 0 and token.stdout.startswith("hachi_")
    listed = hachi(home, "token", "--list")
    assert "backup-script" in listed.stdout
    from hachi.catalog import auth
    from hachi.catalog.db import connect

    conn = connect(home / "catalog.db")
    try:
        assert auth.check_password(conn, "correct horse battery")
        assert not auth.check_password(conn, "wrong")
        assert auth.token_is_valid(conn, token.stdout.strip())
        stored = conn.execute("SELECT token_hash FROM tokens").fetchone()[0]
        assert token.stdout.strip() not in stored, "only a hash of the token is stored"
    finally:
        conn.close()


NO_DAC = [
    "setpriv",
    "--inh-caps=-dac_override,-dac_read_search",
    "--bounding-set=-dac_override,-dac_read_search",
    "--",
]


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="as root, needs setpriv to drop the capability that lets root read any file",
)
def test_unreadable_file_is_recorded_not_fatal(tmp_path: Path) -> None:
    """Root reads every file, so the indexer runs here without CAP_DAC_OVERRIDE."""
    folder = tmp_path / "photos"
    write_photo(folder / "ok.jpg")
    write_photo(folder / "secret.jpg", Shot(seed=3)).chmod(0)
    env = {**os.environ, "HACHI_HOME": str(tmp_path / "home")}
    run = subprocess.run(
        [*NO_DAC, sys.executable, "-m", "hachi.cli", "index", str(folder)],
        env=env,
        text=True,
        capture_output=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "1 indexed" in run.stderr and "1 failed" in run.stderr
    assert "secret.jpg: cannot read file: permission denied" in run.stderr


def test_output_into_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """`hachi status --json | head -c 0`: the reader is gone; no traceback, exit 0."""
    script = (
        "import os, sys\n"
        "r, w = os.pipe(); os.close(r); os.dup2(w, 1)\n"
        "from hachi.cli import main\n"
        f"sys.exit(main(['status', '--json', '--home', {str(tmp_path / 'home')!r}]))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr


def test_index_home_with_the_default_data_folder_inside_it(tmp_path: Path) -> None:
    """`hachi index ~` indexes the home folder and passes over Hachi's own data in it."""
    user = tmp_path / "user"
    write_photo(user / "Pictures" / "a.jpg")
    env = {k: v for k, v in os.environ.items() if k not in ("HACHI_HOME", "XDG_DATA_HOME")}
    env["HOME"] = str(user)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "hachi.cli", *args]
        return subprocess.run(command, env=env, text=True, capture_output=True, timeout=300)

    first = run("index", "~")
    assert first.returncode == 0, first.stderr
    assert (user / ".local" / "share" / "hachi" / "catalog.db").exists()
    again = run("index", "~")
    assert again.returncode == 0, again.stderr
    assert "0 indexed, 1 unchanged" in again.stderr
    refused = run("index", "~/.local/share/hachi/thumbs")
    assert refused.returncode == 2 and "own data" in refused.stderr


HOME_POSITIONS = [
    ["--home", "D", "status"],
    ["status", "--home", "D"],
    ["--home", "D", "search", "-camera:canon"],
    ["search", "dog", "--home", "D"],
    ["--home", "D", "people", "name", "3", "Ada"],
    ["people", "--home", "D", "name", "3", "Ada"],
    ["people", "name", "--home", "D", "3", "Ada"],
    ["people", "name", "3", "Ada", "--home", "D"],
    ["face", "--home", "D", "is", "7", "Ada"],
    ["face", "is", "7", "Ada", "--home", "D"],
    ["--home", "D", "models", "list"],
    ["models", "--home", "D", "list"],
    ["models", "list", "--home", "D"],
    ["--home", "elsewhere", "folders", "--home", "D"],  # the nearer one wins
]


@pytest.mark.parametrize("argv", HOME_POSITIONS, ids=" ".join)
def test_home_before_or_after_any_command(argv: list[str]) -> None:
    from hachi.cli import build_parser

    args = build_parser().parse_args(argv)
    assert args.home == Path("D")
    assert args.func is not None


def test_every_command_and_sub_command_takes_home() -> None:
    import argparse

    from hachi.cli import build_parser

    def walk(parser: argparse.ArgumentParser, path: str) -> list[str]:
        missing = [] if "--home" in parser.format_usage() else [path]
        for action in parser._actions:
            if not isinstance(action, argparse._SubParsersAction):
                continue  # an option's choices (--format) are values, not commands
            for name, child in action.choices.items():
                if isinstance(child, argparse.ArgumentParser):
                    missing += walk(child, f"{path} {name}")
        return missing

    assert walk(build_parser(), "hachi") == []
    assert build_parser().parse_args(["status"]).home is None


def test_home_given_first_reaches_a_real_command(tmp_path: Path) -> None:
    decoy = tmp_path / "decoy"
    run = hachi(decoy, "--home", str(tmp_path / "lib"), "people", "list", "--json")
    assert run.returncode == 0, run.stderr
    status = hachi(decoy, "--home", str(tmp_path / "lib"), "status", "--json")
    assert json.loads(status.stdout)["home"] == str(tmp_path / "lib")
    assert not decoy.exists()


def test_a_query_may_start_with_a_negated_filter(tmp_path: Path, photos: Path) -> None:
    home = tmp_path / "home"
    assert hachi(home, "index", "--quiet", str(photos)).returncode == 0

    def total(*args: str) -> int:
        run = hachi(home, "search", *args)
        assert run.returncode == 0, run.stderr
        return int(json.loads(run.stdout)["total"])

    assert total("-camera:canon", "--json") == 1
    assert total("--json", "-camera:sony", "-year:2019") == 0
    assert total("-year:2021", "--limit", "5", "-place:tokyo", "--json") == 1
    assert total("year:2019", "--json", "-camera:sony") == 1  # a word after an option
    wrong = hachi(home, "search", "--jsn")
    assert wrong.returncode == 2 and "unrecognized arguments: --jsn" in wrong.stderr
