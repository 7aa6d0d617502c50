"""Row filters (cleanroom.grants.rowfilter): what is accepted, what is refused, and what DuckDB
does.

- ``ACCEPTED``: filters with the ids of the rows of ``ROWS`` that each must select (worked out by
  hand); the normalised SQL runs in DuckDB on that table and must select exactly those rows.
- ``REFUSED``: filters with a fragment of the error each must give (injection attempts among
  them); every refusal also carries the list of what is allowed.
- A property: random filters from the grammar give, in DuckDB, the same rows as written and as
  normalised, and the same rows as a small reference evaluator with SQL's three-valued logic.
"""

from __future__ import annotations

import datetime as dt
import random

import duckdb
import pytest

from cleanroom.errors import CleanRoomError
from cleanroom.grants.rowfilter import (
    ALLOWED,
    MAX_DEPTH,
    MAX_LENGTH,
    RowFilterError,
    check_row_filter,
    filter_columns,
    type_kind,
)

COLUMNS = {
    "id": "INTEGER",
    "plant": "VARCHAR",
    "company": "VARCHAR",
    "yield_pct": "DOUBLE",
    "lot": "BIGINT",
    "d": "DATE",
    "ts": "TIMESTAMP",
    "ok": "BOOLEAN",
    "Lot ID": "VARCHAR",
}

D = dt.date.fromisoformat
T = dt.datetime.fromisoformat
ROWS = [
    (1, "P1", "Acme", 91.5, 10, D("2024-01-05"), T("2024-01-05 08:00:00"), True, "L-001"),
    (2, "P2", "Acme", 78.0, 20, D("2024-02-10"), T("2024-02-10 12:30:00"), False, "L-002"),
    (3, "P3", "Borealis", 85.25, 30, D("2024-03-15"), T("2024-03-15 23:59:59"), True, "O'Brien"),
    (4, "P1", "Borealis", None, 40, D("2024-04-20"), None, None, "L-004"),
    (5, None, "Cygnus", 60.0, -5, D("2023-12-31"), T("2023-12-31 00:00:00"), False, None),
    (6, "p1", "Cygnus", 99.9, 0, None, T("2024-06-01 06:00:00"), True, "50%"),
]
ALL = {1, 2, 3, 4, 5, 6}


@pytest.fixture(scope="module")
def con():
    c = duckdb.connect()
    c.execute(
        "CREATE TABLE t (id INTEGER, plant VARCHAR, company VARCHAR, yield_pct DOUBLE, "
        'lot BIGINT, d DATE, ts TIMESTAMP, ok BOOLEAN, "Lot ID" VARCHAR)'
    )
    c.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", ROWS)
    yield c
    c.close()


def selected(con, where: str) -> set[int]:
    return {r[0] for r in con.execute(f"SELECT id FROM t WHERE ({where})").fetchall()}


ACCEPTED = [
    ("plant = 'P1'", {1, 4}),
    ("plant <> 'P1'", {2, 3, 6}),
    ("plant != 'P1'", {2, 3, 6}),
    ("PLANT = 'P1'", {1, 4}),  # plain names are case-insensitive
    ("  plant\t=\n'P1'  ", {1, 4}),
    ("\"plant\" = 'P1'", {1, 4}),
    ("plant ILIKE 'p1'", {1, 4, 6}),
    ("plant LIKE 'P%'", {1, 2, 3, 4}),
    ("plant NOT LIKE 'P%'", {6}),
    ("yield_pct >= 85.25", {1, 3, 6}),
    ("yield_pct < 80", {2, 5}),
    ("yield_pct > .5e2", {1, 2, 3, 5, 6}),
    ("yield_pct BETWEEN 78 AND 91.5", {1, 2, 3}),
    ("yield_pct NOT BETWEEN 78 AND 91.5", {5, 6}),
    ("lot IN (10, 30, 99)", {1, 3}),
    ("lot NOT IN (10, 30)", {2, 4, 5, 6}),
    ("lot = -5", {5}),
    ("lot > -1", {1, 2, 3, 4, 6}),
    ("lot = 1e1", {1}),
    ("yield_pct IS NULL", {4}),
    ("plant IS NOT NULL AND ok", {1, 3, 6}),
    ("NOT ok", {2, 5}),
    ("not not ok", {1, 3, 6}),
    ("ok = FALSE", {2, 5}),
    ("ok IS NULL OR lot = 0", {4, 6}),
    ("d >= DATE '2024-02-10'", {2, 3, 4}),
    ("d < '2024-01-06'", {1, 5}),
    ("d IS NULL", {6}),
    (
        "ts BETWEEN TIMESTAMP '2024-01-01 00:00:00' AND TIMESTAMP '2024-03-15T23:59:59'",
        {1, 2, 3},
    ),
    ("ts > DATE '2024-03-01'", {3, 6}),
    ("\"Lot ID\" = 'O''Brien'", {3}),
    ("\"Lot ID\" LIKE '50%'", {6}),
    ("company = 'Acme' OR company = 'Cygnus' AND yield_pct > 90", {1, 2, 6}),  # AND binds first
    ("(company = 'Acme' OR company = 'Cygnus') AND yield_pct > 90", {1, 6}),
    ("NOT (plant = 'P1' OR plant = 'P2')", {3, 6}),  # row 5: NOT (NULL OR NULL) is NULL
    ("((((plant = 'P2'))))", {2}),
    ("company IN ('Acme')", {1, 2}),
    ("yield_pct > lot", {1, 2, 3, 5, 6}),
    ("lot = lot", ALL),
    ("TRUE", ALL),
    ("FALSE", set()),
    ("company = 'Ünïcødé 반도체'", set()),  # text may hold any printable character
    # Quote breaking stays inside the string: this compares plant with one odd string.
    ("plant = 'P1'' OR ''1''=''1'", set()),
    ("plant = 'a\\' AND lot = 10 AND plant <> 'b\\'", set()),  # backslash is not an escape
]


@pytest.mark.parametrize(("expression", "expected"), ACCEPTED, ids=[a for a, _ in ACCEPTED])
def test_accepted_filters_select_the_expected_rows(con, expression, expected):
    sql = check_row_filter(expression, COLUMNS)
    assert selected(con, sql) == expected
    assert check_row_filter(sql, COLUMNS) == sql  # normalising is idempotent


def test_output_is_rebuilt_not_copied():
    sql = check_row_filter(
        "plant in ('a','b') and NOT ok or lot between -1 and 2.50 or d = date '2024-01-02'",
        COLUMNS,
    )
    assert sql == (
        '("plant" IN (\'a\', \'b\') AND NOT ("ok")) OR "lot" BETWEEN -1 AND 2.50 '
        "OR \"d\" = DATE '2024-01-02'"
    )
    assert check_row_filter("plant = 'it''s'", COLUMNS) == "\"plant\" = 'it''s'"
    assert check_row_filter("\"Lot ID\" != 'x'", COLUMNS) == "\"Lot ID\" <> 'x'"


def test_quoted_names_with_quotes_are_re_escaped(con):
    cols = {'we"ird': "VARCHAR"}
    assert check_row_filter('"we""ird" = \'x\'', cols) == '"we""ird" = \'x\''


REFUSED = [
    # second statements
    ("1=1; DROP TABLE grants", "second statement"),
    ("plant = 'P1'; SELECT * FROM read_csv('/etc/passwd')", "second statement"),
    ("plant = 'P1';", "second statement"),
    # subqueries and queries
    ("lot IN (SELECT lot FROM t)", "subqueries"),
    ("(SELECT 1) = 1", "subqueries"),
    ("(WITH x AS (SELECT 1) SELECT * FROM x)", "subqueries"),
    ("EXISTS (SELECT 1)", "EXISTS is not allowed"),
    ("SELECT * FROM t", "SELECT is not allowed"),
    ("plant = 'P1' UNION SELECT 1", "unexpected 'UNION'"),
    ("lot = ANY (SELECT 1)", "ANY is not allowed"),
    ("ATTACH '/tmp/x.db' AS y", "ATTACH is not allowed"),
    ("COPY t TO '/tmp/x'", "COPY is not allowed"),
    ("CASE WHEN ok THEN TRUE END", "CASE is not allowed"),
    # function calls and file readers
    ("read_csv('/etc/passwd') IS NOT NULL", "function calls"),
    ("read_parquet('/data/other/data.parquet') IS NULL", "function calls"),
    ("lot IN (read_csv('/etc/passwd'))", "function calls"),
    ("glob('/data/*') IS NULL", "function calls"),
    ("getenv('HOME') = 'x'", "function calls"),
    ("lower(plant) = 'p1'", "function calls"),
    ("plant = 'P1' OR pg_sleep (10)", "function calls"),
    ("plant = current_setting('home_directory')", "function calls"),
    # casts and arithmetic
    ("lot::VARCHAR = '1'", "casts"),
    ("CAST(lot AS VARCHAR) = '1'", "CAST is not allowed"),
    ("TRY_CAST(plant AS INTEGER) = 1", "TRY_CAST is not allowed"),
    ("lot + 1 = 2", "arithmetic"),
    ("lot = 2 * 3", "arithmetic"),
    ("plant || 'x' = 'P1x'", "arithmetic"),
    ("lot = -lot", "'-' is only allowed directly before a number"),
    ("lot = - 5", "'-' is only allowed directly before a number"),
    ("d = INTERVAL 1 DAY", "INTERVAL is not allowed"),
    # comments and parameters
    ("plant = 'P1' -- and the rest", "comments (--)"),
    ("plant = 'P1' /* x */", "comments (/* */)"),
    ("/**/plant = 'P1'", "comments (/* */)"),
    ("plant = 'P1'--", "comments (--)"),
    ("lot = ?", "parameters"),
    ("lot = $1", "parameters"),
    # quote breaking and string tricks
    ("plant = 'a\\' OR 1=1 --'", "comments (--)"),
    ("plant = 'P1' OR 'x' = 'x", "never closed"),
    ("plant = E'\\x27' OR TRUE", "'E' is not a column"),
    ("plant = `P1`", "'`' is not allowed"),
    ('plant = "P1"', "'P1' is not a column"),  # double quotes are names, not strings
    ("\"plant = 'P1'", "never closed"),
    ("plant = 'P1\x00'", "NUL"),
    ("plant = 'P1\u202e'", "U+202E"),  # right-to-left override ("Trojan Source")
    ("plant = 'P\u200b1'", "U+200B"),  # zero-width space
    ("plant = 'P1\n'", "U+000A"),
    ("\"plant\u200b\" = 'P1'", "U+200B"),
    # unicode look-alikes
    ("pl\u0430nt = 'P1'", "U+0430 CYRILLIC SMALL LETTER A"),
    ("plant \uff1d 'P1'", "U+FF1D FULLWIDTH EQUALS SIGN"),
    ("plant = \u2018P1\u2019", "plain ASCII quotes"),
    ("plant = 'P1'\u037e DROP TABLE t", "U+037E GREEK QUESTION MARK"),
    ("plant = 'P1' \uff1b DROP TABLE t", "FULLWIDTH SEMICOLON"),
    ("\uff53elect 1", "FULLWIDTH LATIN SMALL LETTER S"),
    ("lot = \uff11", "FULLWIDTH DIGIT ONE"),
    ("plant = 'P1'\u00a0", "NO-BREAK SPACE"),
    # columns
    ("nope = 1", "'nope' is not a column of this dataset; its columns are: \"Lot ID\", company"),
    ("\"Plant\" = 'P1'", "'Plant' is not a column"),  # quoted names are exact
    ("lotid = 'x'", "'lotid' is not a column"),
    ('"" = 1', "empty quoted name"),
    # types
    ("plant = 5", "column 'plant' (text) cannot be compared with the number 5"),
    ("lot = 'ten'", "cannot be compared"),
    ("ok = 1", "cannot be compared"),
    ("lot IN (1, 'two')", "cannot be compared"),
    ("yield_pct BETWEEN 'a' AND 'b'", "cannot be compared"),
    ("d = 5", "cannot be compared"),
    ("lot LIKE '1%'", "LIKE works on text"),
    ("lot", "not a condition by itself"),
    ("plant", "not a condition by itself"),
    ("'x'", "not a condition by itself"),
    # NULL misuse
    ("lot = NULL", "write IS NULL"),
    ("lot <> NULL", "write IS NOT NULL"),
    ("lot IN (1, NULL)", "use IS NULL"),
    # grammar
    ("", "empty"),
    ("   \n ", "empty"),
    ("plant = 'P1' AND", "found the end of the filter"),
    ("(plant = 'P1'", "expected ')'"),
    ("plant = 'P1')", "unexpected ')'"),
    ("lot = 1 = 1", "unexpected '='"),
    ("lot IN (lot)", "IN takes a list of literals"),
    ("lot IN ()", "expected a column or a value, found ')'"),
    ("lot IN 1, 2", "IN needs a list in parentheses"),
    ("plant IN ('P1',)", "found ')'"),
    ("plant LIKE company", "LIKE needs a pattern in single quotes"),
    ("plant LIKE 'a!%' ESCAPE '!'", "ESCAPE"),
    ("plant IS 'P1'", "IS must be followed by [NOT] NULL"),
    ("ok IS TRUE", "IS must be followed by [NOT] NULL"),
    ("lot BETWEEN 1 OR 2", "BETWEEN needs AND"),
    ("lot = (1)", "parentheses around a single value"),
    ("AND lot = 1", "found the keyword AND"),
    ("lot = 1x", "'1x' is not a number or a name"),
    ("lot = 0x10", "'0x' is not a number or a name"),
    ("lot = 1.2.3", "not a number or a name"),
    ("lot = 1e999", "out of range"),
    ("lot = " + "9" * 39, "at most 38 digits"),
    ("plant = 'P1' \\ x", "'\\\\' is not allowed"),
    ("plant = 'P1'\f", "'\\x0c' is not allowed"),
    # dates
    ("d = DATE '2024-13-01'", "not a valid date"),
    ("d = DATE '2024-01-01 00:00'", "not a valid date"),
    ("ts = TIMESTAMP 'yesterday'", "not a valid timestamp"),
    # size and nesting
    ("(" * (MAX_DEPTH + 1) + "ok" + ")" * (MAX_DEPTH + 1), "nested more than"),
    ("NOT " * (MAX_DEPTH + 1) + "ok", "nested more than"),
    ("(" * 100_000, "characters long"),
    (" OR ".join(["lot = 1"] * 600), "characters long"),
]


@pytest.mark.parametrize(
    ("expression", "fragment"), REFUSED, ids=[repr(e[:60]) for e, _ in REFUSED]
)
def test_refused_filters_say_what_is_wrong_and_what_is_allowed(expression, fragment):
    with pytest.raises(RowFilterError) as raised:
        check_row_filter(expression, COLUMNS)
    message = str(raised.value)
    assert fragment in message
    assert ALLOWED in message
    assert message.startswith("Row filter refused")


def test_nesting_up_to_the_limit_is_fine(con):
    deep = "(" * MAX_DEPTH + "lot = 10" + ")" * MAX_DEPTH
    assert selected(con, check_row_filter(deep, COLUMNS)) == {1}
    assert len(" OR ".join(["lot = 1"] * 300)) < MAX_LENGTH
    assert check_row_filter(" OR ".join(["lot = 1"] * 300), COLUMNS)


def test_errors_reach_people():
    with pytest.raises(CleanRoomError) as raised:
        check_row_filter("nope = 1", COLUMNS)
    assert raised.value.jupyterhub_message == str(raised.value)
    with pytest.raises(RowFilterError, match="must be text"):
        check_row_filter(None, COLUMNS)  # type: ignore[arg-type]


def test_ambiguous_case_insensitive_names_must_be_quoted():
    cols = {"Plant": "VARCHAR", "plant": "VARCHAR"}
    assert check_row_filter("plant = 'x'", cols) == "\"plant\" = 'x'"
    with pytest.raises(RowFilterError, match="could be any of"):
        check_row_filter("PLANT = 'x'", cols)


def test_filter_columns():
    assert filter_columns("plant = 'P1' AND (NOT ok OR lot IN (1))", COLUMNS) == {
        "plant",
        "ok",
        "lot",
    }


@pytest.mark.parametrize(
    ("duckdb_type", "kind"),
    [
        ("INTEGER", "number"),
        ("BIGINT", "number"),
        ("UHUGEINT", "number"),
        ("DECIMAL(18,3)", "number"),
        ("DOUBLE", "number"),
        ("FLOAT", "number"),
        ("VARCHAR", "text"),
        ("BOOLEAN", "boolean"),
        ("DATE", "date"),
        ("TIMESTAMP WITH TIME ZONE", "timestamp"),
        ("TIMESTAMP_NS", "timestamp"),
        ("INTERVAL", "other"),
        ("VARCHAR[]", "other"),
        ("STRUCT(a INTEGER)", "other"),
        ("BLOB", "other"),
    ],
)
def test_type_kinds(duckdb_type, kind):
    assert type_kind(duckdb_type) == kind


# --- the property: random filters mean the same as written, as normalised and by hand ----------

_VALUES = {
    "plant": ["'P1'", "'P2'", "'p1'", "'P3'"],
    "company": ["'Acme'", "'Cygnus'", "'Borealis'"],
    "yield_pct": ["60", "78.0", "85.25", "90", "99.9"],
    "lot": ["-5", "0", "10", "20", "35"],
    "d": ["DATE '2024-01-05'", "DATE '2024-03-01'", "'2024-02-10'"],
}


def _parse_value(text: str):
    if text.startswith("DATE"):
        return D(text[6:-1])
    if text.startswith("'"):
        value = text[1:-1]
        return D(value) if value[:2] == "20" else value
    return float(text)


def _cmp(a, op, b):
    if a is None or b is None:
        return None
    return {"=": a == b, "<>": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def _and(a, b):
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def _or(a, b):
    if a is True or b is True:
        return True
    return None if a is None or b is None else False


def _not(a):
    return None if a is None else not a


NAMES = {c: i for i, c in enumerate(COLUMNS)}


def _random_filter(rng: random.Random, depth: int = 0):
    """(text, evaluate(row) -> True/False/None) for a random filter from the grammar."""
    choice = rng.random()
    if depth < 4 and choice < 0.35:
        left, fa = _random_filter(rng, depth + 1)
        right, fb = _random_filter(rng, depth + 1)
        if rng.random() < 0.5:
            return f"({left}) AND ({right})", lambda r: _and(fa(r), fb(r))
        return f"({left}) OR ({right})", lambda r: _or(fa(r), fb(r))
    if depth < 4 and choice < 0.45:
        inner, f = _random_filter(rng, depth + 1)
        return f"NOT ({inner})", lambda r: _not(f(r))
    column = rng.choice(list(_VALUES))
    idx = NAMES[column]
    kind = rng.choice(["cmp", "between", "in", "null", "like"])
    if kind == "cmp":
        op = rng.choice(["=", "<>", "!=", "<", "<=", ">", ">="])
        text = rng.choice(_VALUES[column])
        value = _parse_value(text)
        return f"{column} {op} {text}", lambda r: _cmp(r[idx], "<>" if op == "!=" else op, value)
    if kind == "between":
        lo, hi = sorted(rng.sample(_VALUES[column], 2), key=_parse_value)
        a, b = _parse_value(lo), _parse_value(hi)
        neg = rng.random() < 0.3
        text = f"{column} {'NOT ' if neg else ''}BETWEEN {lo} AND {hi}"

        def between(r):
            v = _and(_cmp(r[idx], ">=", a), _cmp(r[idx], "<=", b))
            return _not(v) if neg else v

        return text, between
    if kind == "in":
        items = rng.sample(_VALUES[column], rng.randint(1, 3))
        values = [_parse_value(i) for i in items]
        neg = rng.random() < 0.3
        text = f"{column} {'NOT ' if neg else ''}IN ({', '.join(items)})"

        def in_list(r):
            v = None if r[idx] is None else r[idx] in values
            return _not(v) if neg else v

        return text, in_list
    if kind == "null" or column not in ("plant", "company"):
        neg = rng.random() < 0.5
        text = f"{column} IS {'NOT ' if neg else ''}NULL"
        return text, lambda r: (r[idx] is not None) if neg else (r[idx] is None)
    prefix = rng.choice(["P", "p", "A", "C", "B"])
    neg = rng.random() < 0.3
    text = f"{column} {'NOT ' if neg else ''}LIKE '{prefix}%'"

    def like(r):
        v = None if r[idx] is None else r[idx].startswith(prefix)
        return _not(v) if neg else v

    return text, like


def test_random_filters_mean_the_same_written_normalised_and_by_hand(con):
    rng = random.Random(20240531)
    for _ in range(300):
        text, evaluate = _random_filter(rng)
        expected = {row[0] for row in ROWS if evaluate(row) is True}
        normalised = check_row_filter(text, COLUMNS)
        assert selected(con, normalised) == expected, (text, normalised)
        assert selected(con, text) == expected, text
        assert check_row_filter(normalised, COLUMNS) == normalised
