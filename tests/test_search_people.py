"""People logic in search: ``person:a,b`` any of, ``person:a+b`` all of, ``person:=a,b`` only
them, each negatable, checked against a plain-Python oracle over a real catalog whose faces
and people are written directly (no face model needed).

The rule for "only them": named people count; faces nobody is assigned to and unnamed
clusters are strangers and do not spoil "only"."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from hachi.catalog import faces as faces_db
from hachi.catalog.db import transaction
from hachi.config import Settings
from hachi.errors import BadRequest, QuerySyntaxError
from hachi.library import Library
from tests.photo_factory import Shot, write_photo

STRANGER = "?"  # a face nobody is assigned to
CLUSTER = "#"  # a face of an unnamed cluster
PHOTOS = {  # file stem: faces in it (names, STRANGER, CLUSTER)
    "beach_alone": ["alice"],
    "beach_passerby": ["alice", STRANGER],
    "beach_pair": ["alice", "bob"],
    "city_trio": ["alice", "bob", "carol"],
    "city_bob": ["bob"],
    "city_cluster": ["alice", CLUSTER],
    "city_crowd": [STRANGER, STRANGER],
    "city_empty": [],
    "beach_pair_passerby": ["alice", "bob", STRANGER],
    "beach_carol": ["carol"],
    "city_pair_carol": ["bob", "carol"],
}
PORTRAIT = {"beach_pair_passerby", "city_trio", "beach_alone"}


@dataclass
class Truth:
    id: int
    stem: str
    named: frozenset[str]
    faces: int


@pytest.fixture(scope="module")
def people_library(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Library, list[Truth]]]:
    base = tmp_path_factory.mktemp("people")
    settings = Settings.from_env({}, home=base / "home", workers=2)
    for i, stem in enumerate(PHOTOS):
        size = (48, 64) if stem in PORTRAIT else (64, 48)
        write_photo(base / "photos" / f"{stem}.jpg", Shot(size=size, seed=i))
    lib = Library(settings)
    lib.add_folder(str(base / "photos"))
    lib.index_pending(with_models=False)
    ids = {r["name"].removesuffix(".jpg"): r["id"] for r in lib.search("", limit=100)["results"]}
    conn, backend = lib.conn, settings.face_backend
    with lib.catalog.write_lock, transaction(conn):
        people = {n: faces_db.create_person(conn, n) for n in ("alice", "bob", "carol")}
        cluster = faces_db.create_person(conn)
        for stem, faces in PHOTOS.items():
            conn.execute(
                "INSERT INTO analyses (photo_id, task, model, status, done_at) "
                "VALUES (?, 'faces', ?, 'ok', '2024-01-01T00:00:00')",
                (ids[stem], backend),
            )
            for row, face in enumerate(faces):
                person = {STRANGER: None, CLUSTER: cluster}.get(face, people.get(face))
                conn.execute(
                    "INSERT INTO faces (photo_id, backend, x, y, w, h, landmarks, score, "
                    "embedding_row, person_id) VALUES (?, ?, 0, 0, 1, 1, '[]', 1, ?, ?)",
                    (ids[stem], backend, row, person),
                )
    truths = [
        Truth(
            ids[stem], stem, frozenset(f for f in faces if f not in (STRANGER, CLUSTER)), len(faces)
        )
        for stem, faces in PHOTOS.items()
    ]
    yield lib, truths
    lib.close()


def _ids(lib: Library, q: str) -> set[int]:
    result = lib.search(q, limit=1000)
    assert result["total"] == len(result["results"])
    return {r["id"] for r in result["results"]}


Oracle = Callable[[Truth], bool]
CASES: list[tuple[str, Oracle]] = [
    ("person:alice,bob", lambda t: bool(t.named & {"alice", "bob"})),
    ("person:alice+bob", lambda t: {"alice", "bob"} <= t.named),
    ("people:alice+bob+carol", lambda t: {"alice", "bob", "carol"} <= t.named),
    ("person:bob+carol", lambda t: {"bob", "carol"} <= t.named),
    ("person:=alice", lambda t: t.named == {"alice"}),
    ("person:=alice,bob", lambda t: t.named == {"alice", "bob"}),
    ("person:=carol", lambda t: t.named == {"carol"}),
    ("-person:alice,bob", lambda t: not t.named & {"alice", "bob"}),
    ("-person:alice+bob", lambda t: not {"alice", "bob"} <= t.named),
    ("-person:=alice", lambda t: t.named != {"alice"}),
    ("-person:=alice,bob", lambda t: t.named != {"alice", "bob"}),
    # with other filters: faces: still counts every face, recognised or not
    ("person:=alice,bob faces:3", lambda t: t.named == {"alice", "bob"} and t.faces == 3),
    ("person:=alice faces:2+", lambda t: t.named == {"alice"} and t.faces >= 2),
    (
        "person:alice+bob orientation:portrait",
        lambda t: {"alice", "bob"} <= t.named and t.stem in PORTRAIT,
    ),
    (
        "person:alice+bob -person:carol",
        lambda t: {"alice", "bob"} <= t.named and "carol" not in t.named,
    ),
    ("person:=alice -person:alice+bob", lambda t: t.named == {"alice"}),
    # with free text (names here; the semantic side ranks the same filtered set)
    ("beach person:alice+bob", lambda t: {"alice", "bob"} <= t.named and "beach" in t.stem),
    ("city person:=bob,carol", lambda t: t.named == {"bob", "carol"} and "city" in t.stem),
]


@pytest.mark.parametrize(("q", "oracle"), CASES, ids=[q for q, _ in CASES])
def test_people_logic_matches_the_oracle(
    people_library: tuple[Library, list[Truth]], q: str, oracle: Oracle
) -> None:
    lib, truths = people_library
    expected = {t.id for t in truths if oracle(t)}
    assert _ids(lib, q) == expected


def test_the_three_forms_differ(people_library: tuple[Library, list[Truth]]) -> None:
    lib, _ = people_library
    anyof, allof, only = (
        _ids(lib, q) for q in ("person:alice,bob", "person:alice+bob", "person:=alice,bob")
    )
    assert only < allof < anyof


def test_strangers_do_not_spoil_only_but_named_people_do(
    people_library: tuple[Library, list[Truth]],
) -> None:
    lib, truths = people_library
    by_stem = {t.stem: t.id for t in truths}
    only_alice = _ids(lib, "person:=alice")
    assert {
        by_stem["beach_alone"],
        by_stem["beach_passerby"],
        by_stem["city_cluster"],
    } == only_alice
    assert by_stem["beach_pair"] not in only_alice


def test_an_unknown_name_in_all_of_or_only_finds_nothing(
    people_library: tuple[Library, list[Truth]],
) -> None:
    lib, _ = people_library
    for q in ("person:alice+nobody", "person:=alice,nobody"):
        result = lib.search(q)
        assert result["total"] == 0
        assert any("nobody" in n for n in result["notices"])
    assert _ids(lib, "person:alice,nobody") == _ids(lib, "person:alice")


def test_parsed_echo_says_which_logic(people_library: tuple[Library, list[Truth]]) -> None:
    lib, _ = people_library
    logic = {
        q: [f.get("logic", "any") for f in lib.search(q)["parsed"]["filters"]]
        for q in ("person:a,b", "person:a+b", "-person:=a,b")
    }
    assert logic == {"person:a,b": ["any"], "person:a+b": ["all"], "-person:=a,b": ["only"]}


@pytest.mark.parametrize(
    ("bad", "points_at"),
    [
        ("person:=", "person:"),
        ("person:a+", "+"),
        ("person:+a", "person:"),
        ("person:a+b,c", "person:a+b,c"),
        ("person:=a+b", "person:=a+b"),
        ("person:a,=b", "=b"),
        ('person:"a"b', "b"),
    ],
)
def test_malformed_people_values_point_at_the_token(
    people_library: tuple[Library, list[Truth]], bad: str, points_at: str
) -> None:
    lib, _ = people_library
    q = f"beach {bad} year:2019"
    with pytest.raises(QuerySyntaxError) as info:
        lib.search(q)
    assert isinstance(info.value, BadRequest)
    assert q[info.value.start : info.value.end] == points_at


def test_plus_and_equals_stay_literal_elsewhere_and_when_quoted(
    people_library: tuple[Library, list[Truth]],
) -> None:
    lib, truths = people_library
    assert _ids(lib, "faces:2+") == {t.id for t in truths if t.faces >= 2}
    parsed = lib.search('person:"a+b",b file:x+y')["parsed"]["filters"]
    assert parsed[0]["values"] == ["a+b", "b"] and "logic" not in parsed[0]
    assert parsed[1]["values"] == ["x+y"]
