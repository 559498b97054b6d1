"""The query language: what each filter means, where errors point, and hostile input."""

from __future__ import annotations

import datetime as dt
import json
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hachi.errors import BadRequest, QuerySyntaxError
from hachi.search.query import (
    MAX_QUERY_CHARS,
    MAX_VALUES,
    DateRange,
    FacesCount,
    Filter,
    FilterKey,
    Query,
    SortOrder,
    parse_query,
)

FULL_EXAMPLE = (
    'dog on the beach person:alice,bob -person:carol place:"New York" country:IN '
    "camera:canon lens:50mm after:2019-06 before:2021 year:2020 folder:vacation file:IMG_12 "
    'type:heic orientation:portrait text:"happy birthday" similar:123 faces:2 sort:date'
)


def only_filter(q: str) -> Filter:
    query = parse_query(q)
    assert len(query.filters) == 1, query
    return query.filters[0]


def syntax_error(q: str) -> QuerySyntaxError:
    with pytest.raises(QuerySyntaxError) as info:
        parse_query(q)
    return info.value


# -- the full example --------------------------------------------------------------------


def test_full_example_parses_every_filter_in_order() -> None:
    query = parse_query(FULL_EXAMPLE)
    assert query.text == "dog on the beach"
    assert query.phrases == ()
    assert query.sort is SortOrder.DATE_DESC
    keys = [f.key.value for f in query.filters]
    assert keys == [
        "person", "person", "place", "country", "camera", "lens", "after", "before", "year",
        "folder", "file", "type", "orientation", "text", "similar", "faces",
    ]  # fmt: skip
    assert query.filters[0].values == ("alice", "bob")
    assert query.filters[1].negated and query.filters[1].values == ("carol",)
    assert query.filters_for(FilterKey.PLACE)[0].values == ("New York",)
    assert query.filters_for(FilterKey.TEXT)[0].values == ("happy birthday",)
    assert query.filters_for(FilterKey.SIMILAR)[0].values == (123,)
    assert query.filters_for(FilterKey.FACES)[0].values == (FacesCount(2, False),)


def test_filter_spans_point_at_their_tokens() -> None:
    query = parse_query(FULL_EXAMPLE)
    for f in query.filters:
        typed = FULL_EXAMPLE[f.start : f.end]
        assert typed.lstrip("-").lower().startswith(f.key.value + ":"), typed
        assert (typed.startswith("-")) == f.negated
    assert FULL_EXAMPLE[query.filters[2].start : query.filters[2].end] == 'place:"New York"'


def test_to_dict_is_json_ready_and_stable() -> None:
    parsed = parse_query('"red car" after:2019-06 faces:3+ -person:"Ann, B" sort:oldest').to_dict()
    assert json.loads(json.dumps(parsed)) == parsed
    assert parsed == {
        "text": "red car",
        "phrases": ["red car"],
        "filters": [
            {
                "key": "after",
                "values": [{"start": "2019-06-01", "end": None}],
                "negated": False,
                "start": 10,
                "end": 23,
            },
            {
                "key": "faces",
                "values": [{"count": 3, "or_more": True}],
                "negated": False,
                "start": 24,
                "end": 32,
            },
            {"key": "person", "values": ["Ann, B"], "negated": True, "start": 33, "end": 49},
        ],
        "sort": "date_asc",
    }


# -- free text ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "text", "phrases"),
    [
        ("", "", ()),
        ("   \t\n ", "", ()),
        ("  dog   on\tthe\u3000beach  ", "dog on the beach", ()),
        ('"red car" parked', "red car parked", ("red car",)),
        ('a "  spaced   out  " b', "a spaced out b", ("spaced out",)),
        ('say "\\"hi\\"" now', 'say "hi" now', ('"hi"',)),
        ('"a\\\\b"', "a\\b", ("a\\b",)),
        ('"" empty phrase', "empty phrase", ()),
        ("-word stays free text", "-word stays free text", ()),
        ("meet at 10:30", "meet at 10:30", ()),
        ("see http://example.com/x", "see http://example.com/x", ()),
        ("warning: slippery", "warning: slippery", ()),
        ("東京:夜 café", "東京:夜 café", ()),
        ("5'10\" tall", "5'10 tall", ()),
        ("x2:y 3d:printed", "x2:y 3d:printed", ()),
        ("file:///home/me/pic.jpg", "file:///home/me/pic.jpg", ()),
        ("🐶 on 🏖️", "🐶 on 🏖️", ()),
    ],
)
def test_free_text(q: str, text: str, phrases: tuple[str, ...]) -> None:
    query = parse_query(q)
    assert (query.text, query.phrases, query.filters) == (text, phrases, ())


def test_empty_and_sort_only_queries_match_nothing_in_particular() -> None:
    for q in ("", "sort:date"):
        assert (parse_query(q).text, parse_query(q).filters) == ("", ())
    assert parse_query("sort:date").sort is SortOrder.DATE_DESC
    assert parse_query("faces:0").filters


# -- filter syntax -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "key", "values", "negated"),
    [
        ("person:alice,bob", FilterKey.PERSON, ("alice", "bob"), False),
        ("-person:carol", FilterKey.PERSON, ("carol",), True),
        ("PERSON:Alice", FilterKey.PERSON, ("Alice",), False),
        ("People:Alice", FilterKey.PERSON, ("Alice",), False),
        ('person:"Smith, John",ann', FilterKey.PERSON, ("Smith, John", "ann"), False),
        ('person:ann,"Smith, John"', FilterKey.PERSON, ("ann", "Smith, John"), False),
        ('place:"New York"', FilterKey.PLACE, ("New York",), False),
        ('place:"say \\"cheese\\""', FilterKey.PLACE, ('say "cheese"',), False),
        ('text:"happy birthday"', FilterKey.TEXT, ("happy birthday",), False),
        ("country:IN", FilterKey.COUNTRY, ("IN",), False),
        ("make:Canon", FilterKey.CAMERA, ("Canon",), False),
        ("model:X100V", FilterKey.CAMERA, ("X100V",), False),
        ("lens:50mm", FilterKey.LENS, ("50mm",), False),
        ("folder:/home/me/Pictures", FilterKey.FOLDER, ("/home/me/Pictures",), False),
        ("file:IMG_12", FilterKey.FILE, ("IMG_12",), False),
        ("person:ann,ann", FilterKey.PERSON, ("ann",), False),
        ("person:Zoë", FilterKey.PERSON, ("Zoë",), False),
        ("person:ann\u00a0bob", FilterKey.PERSON, ("ann",), False),
        ("person:5'10\"", FilterKey.PERSON, ("5'10\"",), False),
    ],
)
def test_filter_values(q: str, key: FilterKey, values: tuple[str, ...], negated: bool) -> None:
    f = parse_query(q).filters[0]
    assert (f.key, f.values, f.negated) == (key, values, negated)


def test_filters_and_text_mix_in_any_order() -> None:
    query = parse_query('person:ann "blue sky" over -year:2019 the "old" barn')
    assert query.text == "blue sky over the old barn"
    assert query.phrases == ("blue sky", "old")
    assert [f.key for f in query.filters] == [FilterKey.PERSON, FilterKey.YEAR]
    assert query.filters_for(FilterKey.YEAR)[0].negated
    assert query.filters_for(FilterKey.CAMERA) == ()


def test_same_filter_twice_is_two_and_conditions() -> None:
    query = parse_query("person:ann person:bob")
    assert [f.values for f in query.filters_for(FilterKey.PERSON)] == [("ann",), ("bob",)]


# -- dates -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("after:2019-06", DateRange("2019-06-01", None)),
        ("after:2019", DateRange("2019-01-01", None)),
        ("after:2019-06-15", DateRange("2019-06-15", None)),
        ("after:2019/06/15", DateRange("2019-06-15", None)),
        ("after:2019-6-5", DateRange("2019-06-05", None)),
        ("before:2021", DateRange(None, "2021-01-01")),
        ("before:2021-03", DateRange(None, "2021-03-01")),
        ("before:2021-03-04", DateRange(None, "2021-03-04")),
        ("year:2020", DateRange("2020-01-01", "2021-01-01")),
        ("year:2020-12", DateRange("2020-12-01", "2021-01-01")),
        ("year:2020-02", DateRange("2020-02-01", "2020-03-01")),
        ("year:2020-02-29", DateRange("2020-02-29", "2020-03-01")),
        ("year:2020-12-31", DateRange("2020-12-31", "2021-01-01")),
        ("date:2020-06-01", DateRange("2020-06-01", "2020-06-02")),
        ("year:1800", DateRange("1800-01-01", "1801-01-01")),
        ("year:2200", DateRange("2200-01-01", "2201-01-01")),
    ],
)
def test_dates_become_half_open_ranges(q: str, expected: DateRange) -> None:
    assert only_filter(q).values == (expected,)


def test_date_ranges_compare_with_timestamps_as_strings() -> None:
    within = only_filter("year:2020").values[0]
    assert isinstance(within, DateRange) and within.start and within.end
    for inside in ("2020-01-01T00:00:00", "2020-06-15T12:00:00", "2020-12-31T23:59:59"):
        assert within.start <= inside < within.end
    for outside in ("2019-12-31T23:59:59", "2021-01-01T00:00:00"):
        assert not within.start <= outside < within.end
    before = only_filter("before:2021-03").values[0]
    assert isinstance(before, DateRange) and before.end
    assert "2021-02-28T23:59:59" < before.end <= "2021-03-01T00:00:00"


def test_year_accepts_several_years_as_or() -> None:
    assert only_filter("year:2019,2021").values == (
        DateRange("2019-01-01", "2020-01-01"),
        DateRange("2021-01-01", "2022-01-01"),
    )


@pytest.mark.parametrize(
    ("q", "bad", "hint"),
    [
        ("after:2019-13", "2019-13", "no such month"),
        ("after:2019-00", "2019-00", "no such month"),
        ("year:2019-02-29", "2019-02-29", "no such day"),
        ("year:2019-02-30", "2019-02-30", "no such day"),
        ("before:yesterday", "yesterday", "YYYY-MM-DD"),
        ("year:1799", "1799", "1800 to 2200"),
        ("year:2201", "2201", "1800 to 2200"),
        ("year:20201", "20201", "YYYY"),
        ("year:2019-06/01", "2019-06/01", "YYYY"),
        ("year:2019,20x0", "20x0", "YYYY"),
        ("year:２０２０", "２０２０", "YYYY"),
    ],
)
def test_invalid_dates_point_at_the_value(q: str, bad: str, hint: str) -> None:
    error = syntax_error(q)
    assert error.message.startswith(f'invalid date "{bad}" in "{q}"')
    assert hint in error.message
    assert (error.token, q[error.start : error.end]) == (bad, bad)


# -- typed filters -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("faces:0", FacesCount(0, False)),
        ("faces:2", FacesCount(2, False)),
        ("faces:3+", FacesCount(3, True)),
        ("faces:007", FacesCount(7, False)),
    ],
)
def test_faces(q: str, expected: FacesCount) -> None:
    assert only_filter(q).values == (expected,)


@pytest.mark.parametrize("value", ["x", "-1", "2-", "+3", "1.5", "3++", "99999999999"])
def test_faces_errors(value: str) -> None:
    error = syntax_error(f"faces:{value}")
    assert error.message == '"faces:" expects a number like 0, 2 or 3+'
    assert (error.start, error.end, error.token) == (6, 6 + len(value), value)


def test_similar_takes_positive_photo_ids() -> None:
    assert only_filter("similar:123").values == (123,)
    assert only_filter("similar:9223372036854775807").values == (2**63 - 1,)
    for bad in ("0", "-5", "abc", "1e3", "9223372036854775808", "12345678901234567890123"):
        error = syntax_error(f"similar:{bad}")
        assert "photo id" in error.message and error.token == bad


@pytest.mark.parametrize(
    ("value", "canonical"),
    [("portrait", "portrait"), ("Landscape", "landscape"), ("SQUARE", "square"),
     ("vertical", "portrait"), ("horizontal", "landscape")],
)  # fmt: skip
def test_orientation(value: str, canonical: str) -> None:
    assert only_filter(f"orientation:{value}").values == (canonical,)


def test_orientation_error() -> None:
    error = syntax_error("orientation:diagonal")
    assert error.message == '"orientation:" expects portrait, landscape or square'
    assert error.token == "diagonal"


@pytest.mark.parametrize(
    ("value", "canonical"),
    [
        ("jpg", "jpeg"), ("JPEG", "jpeg"), (".jpg", "jpeg"), ("png", "png"), ("heic", "heic"),
        ("HEIF", "heic"), ("webp", "webp"), ("tif", "tiff"), ("tiff", "tiff"), ("gif", "gif"),
        ("bmp", "bmp"), ("avif", "avif"), ("raw", "raw"), ("DNG", "dng"), ("cr2", "cr2"),
        ("nef", "nef"), ("arw", "arw"), ("raf", "raf"), ("orf", "orf"), ("rw2", "rw2"),
    ],
)  # fmt: skip
def test_file_types_are_normalised(value: str, canonical: str) -> None:
    assert only_filter(f"type:{value}").values == (canonical,)


def test_file_type_list_and_alias() -> None:
    assert only_filter("ext:jpg,jpeg,png").values == ("jpeg", "png")


def test_unknown_file_type_suggests() -> None:
    error = syntax_error("type:webpp")
    assert error.message == 'unknown file type "webpp" in "type:webpp" (did you mean "webp"?)'
    assert (error.start, error.end) == (5, 10)
    assert "e.g. jpeg" in syntax_error("type:docx").message


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("sort:relevance", SortOrder.RELEVANCE),
        ("sort:date", SortOrder.DATE_DESC),
        ("sort:newest", SortOrder.DATE_DESC),
        ("SORT:Date-Desc", SortOrder.DATE_DESC),
        ("sort:date-asc", SortOrder.DATE_ASC),
        ("sort:date_asc", SortOrder.DATE_ASC),
        ("sort:oldest", SortOrder.DATE_ASC),
    ],
)
def test_sort(q: str, expected: SortOrder) -> None:
    query = parse_query(f"beach {q}")
    assert (query.sort, query.filters, query.text) == (expected, (), "beach")


@pytest.mark.parametrize(
    ("q", "message", "token"),
    [
        ("sort:date sort:oldest", 'only one "sort:" is allowed', "sort:oldest"),
        ("sort:date,oldest", '"sort:" takes a single value', "oldest"),
        ("sort:size", '"sort:" expects relevance', "size"),
        ("-sort:date", '"sort:" cannot be negated', "-sort:date"),
        ("-similar:4", '"similar:" cannot be negated', "-similar:4"),
    ],
)
def test_sort_and_negation_errors(q: str, message: str, token: str) -> None:
    error = syntax_error(q)
    assert error.message.startswith(message)
    assert error.token == token == q[error.start : error.end]


# -- syntax errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "message", "span"),
    [
        ("camra:canon", 'unknown filter "camra:" (did you mean "camera:"?)', (0, 6)),
        ("dog Persn:ann", 'unknown filter "Persn:" (did you mean "person:"?)', (4, 10)),
        ("-plac:x", 'unknown filter "plac:" (did you mean "place:"?)', (1, 6)),
        ('"red car', "unterminated quote", (0, 8)),
        ('beach "red car', "unterminated quote", (6, 14)),
        ('place:"New York', "unterminated quote", (6, 15)),
        ('person:ann,"bob', "unterminated quote", (11, 15)),
        ('text:"a\\"', "unterminated quote", (5, 9)),
        ("person:", 'empty value for "person:"', (0, 7)),
        ("person: alice", 'empty value for "person:"', (0, 7)),
        ('person:""', 'empty value for "person:"', (0, 7)),
        ('place:"   "', 'empty value for "place:"', (0, 6)),
        ("person:alice,", 'empty value after "," in "person:alice,"', (12, 13)),
        ("person:alice,,bob", 'empty value after "," in "person:alice,"', (12, 13)),
        ('place:"New York"City', 'expected a space or "," after the closing quote', (16, 17)),
    ],
)
def test_syntax_errors_point_at_the_token(q: str, message: str, span: tuple[int, int]) -> None:
    error = syntax_error(q)
    assert error.message == message
    assert (error.start, error.end) == span
    assert error.token == q[error.start : error.end]
    assert error.detail == {"token": error.token, "start": error.start, "end": error.end}
    assert isinstance(error, BadRequest) and error.status == 400


def test_unknown_filter_far_from_any_key_lists_the_filters() -> None:
    error = syntax_error("zzz:top")
    assert error.message.startswith('unknown filter "zzz:" (filters are person, place')


def test_query_length_is_capped() -> None:
    parse_query("a" * MAX_QUERY_CHARS)
    error = syntax_error("a" * (MAX_QUERY_CHARS + 5))
    assert (error.start, error.end) == (MAX_QUERY_CHARS, MAX_QUERY_CHARS + 5)
    assert "too long" in error.message


def test_number_of_values_is_capped() -> None:
    names = ",".join(f"p{i}" for i in range(MAX_VALUES))
    assert len(parse_query(f"person:{names}").filters[0].values) == MAX_VALUES
    q = f"person:{names} place:x"
    error = syntax_error(q)
    assert "too many filter values" in error.message
    assert (error.token, q[error.start : error.end]) == ("x", "x")
    error = syntax_error(f"person:{names},late,later")
    assert error.token == "late"


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\x7f", "\ud800"])
def test_control_characters_and_lone_surrogates_are_refused(char: str) -> None:
    error = syntax_error(f"dog{char}cat")
    assert (error.start, error.end) == (3, 4)
    assert "invalid character" in error.message


def test_unicode_whitespace_separates_tokens() -> None:
    query = parse_query("person:ann\u2003place:Oslo\u00a0fjord\r\nnight")
    assert [f.values for f in query.filters] == [("ann",), ("Oslo",)]
    assert query.text == "fjord night"


def test_filter_offsets_are_in_characters_not_bytes() -> None:
    q = "ünïcødé 🐶 person:Zoë"
    f = only_filter(q)
    assert q[f.start : f.end] == "person:Zoë"


def test_query_objects_are_immutable_values() -> None:
    a, b = parse_query("dog person:ann"), parse_query("dog person:ann")
    assert a == b and hash(a) == hash(b)
    assert isinstance(a, Query)
    with pytest.raises(AttributeError):
        a.text = "cat"  # type: ignore[misc]


# -- properties --------------------------------------------------------------------------

QUERYISH = st.text(
    alphabet=st.sampled_from(
        list(string.ascii_letters + string.digits + ' :,-"\\+/._') + ["é", "日"]
    ),
    max_size=60,
)
ANY_TEXT = st.text(max_size=200)
QUICK = settings(
    max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


@QUICK
@given(st.one_of(QUERYISH, ANY_TEXT))
def test_parse_never_raises_anything_but_query_syntax_error(q: str) -> None:
    try:
        query = parse_query(q)
    except QuerySyntaxError as error:
        assert 0 <= error.start < error.end <= len(q)
        assert error.token == q[error.start : error.end]
        assert error.message
        return
    json.dumps(query.to_dict())
    assert "  " not in query.text and query.text == query.text.strip()
    assert sum(len(f.values) for f in query.filters) <= MAX_VALUES
    for f in query.filters:
        assert 0 <= f.start < f.end <= len(q)
        assert q[f.start : f.end].lstrip("-").split(":")[0].isalpha()
        assert f.values


NAMES = st.text(alphabet=st.characters(blacklist_categories=["Cc", "Cs"]), min_size=1, max_size=12)


def quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@QUICK
@given(st.lists(NAMES, min_size=1, max_size=5), st.booleans())
def test_any_quoted_names_round_trip(names: list[str], negated: bool) -> None:
    """Whatever a name contains, quoting it as the UI does gives it back unchanged."""
    wanted = [" ".join(name.split()) for name in names]
    if not all(wanted):
        return
    q = ("-" if negated else "") + "person:" + ",".join(quoted(n) for n in names)
    f = only_filter(q)
    assert f.values == tuple(dict.fromkeys(wanted))
    assert (f.negated, f.start, f.end) == (negated, 0, len(q))


@QUICK
@given(st.dates(min_value=dt.date(1800, 1, 1), max_value=dt.date(2200, 12, 31)))
def test_any_real_day_parses_to_itself(day: dt.date) -> None:
    value = only_filter(f"year:{day}").values[0]
    assert isinstance(value, DateRange)
    assert value.start == str(day) and value.end is not None and value.end > str(day)
