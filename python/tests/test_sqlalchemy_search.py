"""The typed types and search (0.5.0): DDL, round trips, and every search
form against the same predicate on decrypt(column), on a real server."""

import datetime
import decimal
import re
import secrets

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session, declarative_base
from sqlalchemy.schema import CreateIndex, CreateTable

import docs
from conftest import URL
from encrypted_column.sqlalchemy import (
    EncryptedBigInteger,
    EncryptedBinary,
    EncryptedDate,
    EncryptedDateTime,
    EncryptedJSON,
    EncryptedNumeric,
    EncryptedText,
    check_key,
    connect_args,
    search_index,
    stored_key_ids,
)

try:                                    # SQLAlchemy 2.0
    from sqlalchemy.sql.cache_key import NO_CACHE
except ImportError:                     # SQLAlchemy 1.4
    from sqlalchemy.sql.traversals import NO_CACHE

D = decimal.Decimal
UTC = datetime.timezone.utc
PLUS2 = datetime.timezone(datetime.timedelta(hours=2))
MINUS7 = datetime.timezone(datetime.timedelta(hours=-7, minutes=-30))
# the ends of what Python reads back in any session time zone
FIRST = datetime.datetime(1, 1, 2, tzinfo=UTC)
LAST = datetime.datetime(9999, 12, 30, tzinfo=UTC)
ROWS = 3000


def event_model(table):
    """A model with a column of every searchable form; its search indexes."""
    Base = declarative_base()

    class Event(Base):
        __tablename__ = table
        id = sa.Column(sa.Integer, primary_key=True, autoincrement=False)
        title = sa.Column(EncryptedText(trigram=True))
        day = sa.Column(EncryptedDate(range_width=7))
        n = sa.Column(EncryptedBigInteger(range_width=100))
        amount = sa.Column(EncryptedNumeric(range_width="0.01"))
        at = sa.Column(EncryptedDateTime(range_width=datetime.timedelta(hours=1)))
        doc = sa.Column(EncryptedJSON)
        blob = sa.Column(EncryptedBinary)

    for col in ("title", "day", "n", "amount", "at"):
        search_index("%s_%s" % (table, col), getattr(Event, col))
    return Base, Event


# ---- the data: formulas that spread the values, and the awkward ones

TITLES = [
    "Alice Smith", "alice smithers", "Bob Jones", "\u00c9cole Normale",
    "\u00c9COLE normale", "\u0130stanbul", "istanbul", "Stra\u00dfe 5", "KELVIN",
    "\u212aelvin", "100% sure", "100 percent", "a_b", "axb", "back\\slash",
    "slash/path", "", "a", "ab", "x", "aaaa", "\u03a9 omega", "tab\there",
]


def title(i):
    if i <= len(TITLES):
        return TITLES[i - 1]
    if i % 97 == 0:
        return None
    return "user%d@example.com" % i


def row(i, tz=UTC):
    """Row i: every column; NULLs and the ends of each range on some rows."""
    r = {"id": i, "title": title(i),
         "day": datetime.date(2020, 1, 1) + datetime.timedelta(days=i * 37 % 1500),
         "n": (i * 104729) % 20011 - 10000,
         "amount": D((i * 7919) % 100000) / 100,
         "at": (datetime.datetime(2020, 1, 1, tzinfo=UTC)
                + datetime.timedelta(minutes=17 * (i * 3803 % 100000))).astimezone(tz),
         "doc": {"i": i, "tags": ["t%d" % (i % 5)]},
         "blob": i.to_bytes(4, "big")}
    if i % 89 == 0:
        for k in ("day", "n", "amount", "at", "doc", "blob"):
            r[k] = None
    ends = {1: {"n": 2 ** 63 - 1, "amount": D("NaN"), "day": datetime.date.max,
                "at": LAST},
            2: {"n": -2 ** 63, "amount": D("-1e30"), "day": datetime.date.min,
                "at": FIRST},
            3: {"n": 0, "amount": D("1e-20"), "day": datetime.date(2021, 6, 15)}}
    r.update(ends.get(i, {}))
    return r


def fill(engine, Event, ids, tz=UTC):
    """The rows, through Core executemany; then ANALYZE."""
    with engine.begin() as conn:
        conn.execute(sa.insert(Event.__table__), [row(i, tz) for i in ids])
        conn.execute(sa.text('ANALYZE "%s"' % Event.__tablename__))


def plan(conn, stmt):
    """EXPLAIN of a statement as SQLAlchemy sends it, one string."""
    compiled = stmt.compile(dialect=conn.dialect)
    rows = conn.exec_driver_sql("EXPLAIN " + str(compiled), compiled.params)
    return "\n".join(r[0] for r in rows)


def sql(stmt):
    return str(stmt.compile(dialect=postgresql.dialect(),
                            compile_kwargs={"render_postcompile": True}))


# ---- the predicates: each is applied to the column (the indexed form)
# and to decrypt(column) (the reference, which decrypts every row)

DAYS = [datetime.date(2021, 1, 1), datetime.date(2021, 1, 31), datetime.date(2020, 1, 1),
        datetime.date(2021, 6, 15), datetime.date(1, 1, 1), datetime.date(9999, 12, 31)]
NS = [-10000, -9950, 0, 5, 9000, 2 ** 63 - 1, -2 ** 63]
AMOUNTS = [D("10"), D("10.5"), D("-1e31"), D("999.99"), D("NaN"), 0, 0.25, D("1e-20")]
ATS = [datetime.datetime(2020, 2, 1, tzinfo=UTC),
       datetime.datetime(2020, 2, 2, 1, 30, tzinfo=PLUS2),
       datetime.datetime(2021, 6, 15, 12, tzinfo=MINUS7), LAST, FIRST]
BOUNDS = {"day": DAYS, "n": NS, "amount": AMOUNTS, "at": ATS}


def range_predicates(values):
    """Comparisons, BETWEEN (both orders of the bounds), IN, and the
    negations, for every value and neighbouring pair of values."""
    preds = []
    for v in values:
        preds += [("< %r" % v, lambda c, v=v: c < v), ("<= %r" % v, lambda c, v=v: c <= v),
                  ("== %r" % v, lambda c, v=v: c == v), ("!= %r" % v, lambda c, v=v: c != v),
                  (">= %r" % v, lambda c, v=v: c >= v), ("> %r" % v, lambda c, v=v: c > v),
                  ("%r > col" % v, lambda c, v=v: v > c)]
    for lo, hi in zip(values, values[1:]):
        preds += [("between %r %r" % (lo, hi), lambda c, lo=lo, hi=hi: c.between(lo, hi)),
                  ("not between %r %r" % (lo, hi),
                   lambda c, lo=lo, hi=hi: ~c.between(lo, hi)),
                  ("in %r %r" % (lo, hi), lambda c, lo=lo, hi=hi: c.in_([lo, hi])),
                  ("not in %r %r" % (lo, hi), lambda c, lo=lo, hi=hi: c.not_in([lo, hi]))]
    return preds


LIKE = ["user12%", "%@example.com", "%smith%", "Alice%", "alice%", "%", "", "a_b", "_b",
        "a%", "%a", "ab", "%ers", "\u00c9cole%", "%\u00df%", "100\\% %", "back\\\\slash",
        "%1999%", "user2000@example.com", "%a%a%a%a%", "\u0130st%", "%\u03a9%"]
ILIKE = LIKE + ["%SMITH%", "\u00e9cole%", "%COLE%", "%STANBUL", "kelvin", "%K%", "USER1__@%"]
AFFIXES = ["user12", "100%", "a_", "a_b", "slash/", "/", "%", "_", "\\", "Alice", "@example.com",
           ".com", "smith", "e", ""]


def text_predicates():
    preds = []
    for p in LIKE:
        preds += [("like %r" % p, lambda c, p=p: c.like(p)),
                  ("not like %r" % p, lambda c, p=p: c.not_like(p))]
    for p in ILIKE:
        preds += [("ilike %r" % p, lambda c, p=p: c.ilike(p)),
                  ("not ilike %r" % p, lambda c, p=p: c.not_ilike(p))]
    for a in AFFIXES:
        preds += [("startswith %r" % a, lambda c, a=a: c.startswith(a, autoescape=True)),
                  ("endswith %r" % a, lambda c, a=a: c.endswith(a, autoescape=True)),
                  ("contains %r" % a, lambda c, a=a: c.contains(a, autoescape=True)),
                  ("not contains %r" % a, lambda c, a=a: ~c.contains(a, autoescape=True))]
    preds += [("startswith # escape", lambda c: c.startswith("a#_", escape="#")),
              ("like ! escape", lambda c: c.like("100!%%", escape="!")),
              ("contains raw _", lambda c: c.contains("_"))]
    return preds


def matching_ids(conn, Event, where):
    return conn.execute(sa.select(Event.id).where(where).order_by(Event.id)).scalars().all()


def check_exact(conn, Event, column, preds):
    """Each predicate on the column gives exactly the rows of the same
    predicate on decrypt(column); returns how many predicates found rows."""
    col = getattr(Event, column)
    found = 0
    for name, pred in preds:
        indexed = pred(col)
        where_sql = sql(indexed)
        assert "decrypt" not in where_sql, (name, where_sql)
        got = matching_ids(conn, Event, indexed)
        want = matching_ids(conn, Event, pred(col.plaintext))
        assert got == want, (column, name, where_sql)
        found += bool(want)
    return found


ORDERS = [("asc", lambda c: c), ("asc()", lambda c: c.asc()), ("desc()", lambda c: c.desc()),
          ("nulls first", lambda c: c.asc().nulls_first()),
          ("desc nulls last", lambda c: c.desc().nulls_last())]


def check_order(conn, Event, column, limit):
    """ORDER BY column [...] LIMIT n gives the values of ORDER BY
    decrypt(column) in the same order (ties may come in any order of ids)."""
    col = getattr(Event, column)
    for name, order in ORDERS:
        stmt = sa.select(col).order_by(order(col)).limit(limit)
        assert "ORDER BY %s.%s" % (Event.__tablename__, column) in sql(stmt), name
        got = conn.execute(stmt).scalars().all()
        want = conn.execute(sa.select(col).order_by(order(col.plaintext))
                            .limit(limit)).scalars().all()
        assert len(got) == min(limit, ROWS)
        assert [str(v) for v in got] == [str(v) for v in want], (column, name)


# ---- without a server

def test_ddl_emits_the_modifiers():
    _, Event = event_model("events")
    d = postgresql.dialect()
    ddl = str(CreateTable(Event.__table__).compile(dialect=d))
    for line in ("title encrypted_text(trigram)", "day encrypted_date(range,7)",
                 "n encrypted_bigint(range,100)", "amount encrypted_numeric(range,0.01)",
                 "at encrypted_timestamptz(range,3600)", "doc encrypted_jsonb",
                 "blob encrypted_bytea"):
        assert "\t%s" % line in ddl, ddl
    indexes = sorted(str(CreateIndex(i).compile(dialect=d)) for i in Event.__table__.indexes)
    assert indexes == [
        "CREATE INDEX events_amount ON events (amount encrypted_numeric_range_ops)",
        "CREATE INDEX events_at ON events (at encrypted_timestamptz_range_ops)",
        "CREATE INDEX events_day ON events (day encrypted_date_range_ops)",
        "CREATE INDEX events_n ON events (n encrypted_bigint_range_ops)",
        "CREATE INDEX events_title ON events USING gin (title)"]
    specs = {
        EncryptedText(): "encrypted_text",
        EncryptedText(trigram=True, bits=16): "encrypted_text(trigram,16)",
        EncryptedBigInteger(): "encrypted_bigint",
        EncryptedNumeric(range_width=2500): "encrypted_numeric(range,2500)",
        EncryptedNumeric(range_width=D("1E+3")): "encrypted_numeric(range,1000)",
        EncryptedNumeric(range_width=D("0.0001")): "encrypted_numeric(range,0.0001)",
        EncryptedDate(range_width=datetime.timedelta(weeks=2)): "encrypted_date(range,14)",
        EncryptedDateTime(range_width=86400): "encrypted_timestamptz(range,86400)",
        EncryptedDateTime(): "encrypted_timestamptz",
    }
    for coltype, spec in specs.items():
        assert coltype.compile(dialect=d) == spec
        # a type without cache_ok is left out of the statement cache
        assert coltype._static_cache_key != NO_CACHE
    # repr() is what Alembic writes into a revision
    assert repr(EncryptedDate(range_width=7)) == "EncryptedDate(range_width=7)"
    assert repr(EncryptedDate(range_width=datetime.timedelta(days=7))) == \
        "EncryptedDate(range_width=7)"
    assert repr(EncryptedNumeric(range_width=D("0.010"))) == \
        "EncryptedNumeric(range_width='0.01')"
    assert repr(EncryptedText(trigram=True, bits=10)) == "EncryptedText(trigram=True, bits=10)"
    assert EncryptedDate(range_width=7)._static_cache_key != \
        EncryptedDate(range_width=14)._static_cache_key


@pytest.mark.parametrize("make", [
    lambda: EncryptedText(bits=12), lambda: EncryptedText(trigram=True, bits=7),
    lambda: EncryptedText(trigram=True, bits=17), lambda: EncryptedDate(range_width=0),
    lambda: EncryptedDate(range_width=datetime.timedelta(hours=36)),
    lambda: EncryptedDateTime(range_width=datetime.timedelta(milliseconds=1500)),
    lambda: EncryptedBigInteger(range_width=2 ** 31), lambda: EncryptedBigInteger(range_width=1.5),
    lambda: EncryptedNumeric(range_width="-1"), lambda: EncryptedNumeric(range_width="abc"),
    lambda: EncryptedNumeric(range_width=D("Infinity")),
])
def test_bad_modifiers_are_refused(make):
    with pytest.raises(ValueError):
        make()


def test_python_types_and_refused_values():
    d = postgresql.dialect()
    assert [t().python_type for t in (EncryptedBigInteger, EncryptedNumeric, EncryptedDate,
                                      EncryptedDateTime, EncryptedJSON, EncryptedBinary)] == \
        [int, D, datetime.date, datetime.datetime, dict, bytes]
    refused = [(EncryptedBigInteger, "5"), (EncryptedBigInteger, True), (EncryptedBigInteger, D(5)),
               (EncryptedNumeric, "1.5"), (EncryptedDate, "2021-01-01"),
               (EncryptedDate, datetime.datetime(2021, 1, 1, tzinfo=UTC)),
               (EncryptedDateTime, datetime.date(2021, 1, 1)), (EncryptedJSON, {1, 2}),
               (EncryptedBinary, "bytes")]
    for cls, value in refused:
        with pytest.raises(TypeError, match="^%s takes " % cls.__name__):
            cls().bind_processor(d)(value)
    with pytest.raises(ValueError, match="timezone-aware"):
        EncryptedDateTime().bind_processor(d)(datetime.datetime(2021, 1, 1))
    _, Event = event_model("events")
    with pytest.raises(TypeError):
        Event.title.like(5)


def test_search_forms_keep_the_column():
    _, Event = event_model("events")
    day = datetime.date(2021, 1, 1)
    forms = [
        (Event.day < day, "events.day < CAST(%(day_1)s AS DATE)"),
        (day <= Event.day, "events.day >= CAST(%(day_1)s AS DATE)"),
        (Event.day.between(day, day),
         "events.day BETWEEN CAST(%(day_1)s AS DATE) AND CAST(%(day_2)s AS DATE)"),
        (Event.n == 5, "events.n = CAST(%(n_1)s AS BIGINT)"),
        (Event.n.in_([1, 2]),
         "events.n IN (CAST(%(n_1_1)s AS BIGINT), CAST(%(n_1_2)s AS BIGINT))"),
        (Event.amount != 1, "events.amount != CAST(%(amount_1)s AS NUMERIC)"),
        (Event.at > datetime.datetime(2021, 1, 1, tzinfo=UTC),
         "events.at > CAST(%(at_1)s AS TIMESTAMP WITH TIME ZONE)"),
        (sa.literal(day, sa.Date) < Event.day, "%(param_1)s < events.day"),
        (Event.day.is_(None), "events.day IS NULL"),
        (Event.title.like("ab%"), "events.title LIKE %(param_1)s"),
        (Event.title.ilike("%ab%"), "events.title ILIKE %(param_1)s"),
        (Event.title.not_like("ab%"), "events.title NOT LIKE %(param_1)s"),
        (Event.title.startswith("a%", autoescape=True),
         "events.title LIKE %(param_1)s || '%%' ESCAPE '/'"),
        (Event.title.endswith("a"), "events.title LIKE '%%' || %(param_1)s"),
        (Event.title.contains("a"), "events.title LIKE '%%' || %(param_1)s || '%%'"),
        # no search form: the decrypted value, row by row
        (Event.title == "a", "decrypt(events.title) = %(decrypt_1)s"),
        (Event.n + 1 > 5, "decrypt(events.n) + %(decrypt_1)s > %(param_1)s"),
        (Event.doc["i"].as_integer() == 1,
         "CAST((decrypt(events.doc) ->> %(decrypt_1)s) AS INTEGER) = %(param_1)s"),
        (Event.blob == b"x", "decrypt(events.blob) = %(decrypt_1)s"),
    ]
    for expr, text in forms:
        assert sql(expr) == text
    # ORDER BY: the column itself where the server sorts it by plaintext
    assert sql(sa.select(Event.id).order_by(Event.day).limit(10)).endswith(
        "ORDER BY %s.day \n LIMIT %%(param_1)s" % "events")
    assert sql(sa.select(Event).order_by(Event.amount.desc())).endswith(
        "ORDER BY events.amount DESC")
    assert sql(sa.select(Event.id).order_by(Event.title, Event.doc, Event.blob)).endswith(
        "ORDER BY decrypt(events.title), decrypt(events.doc), decrypt(events.blob)")
    assert "decrypt(events.day) AS day" in sql(sa.select(Event))
    with pytest.raises(TypeError):
        search_index("x", Event.doc)
    with pytest.raises(TypeError):
        search_index("x", sa.Column("plain", EncryptedDate()))


# ---- on the server

@pytest.fixture(scope="module")
def events(server):
    """A table of ROWS events under one key, with every search index."""
    table = "t_" + secrets.token_hex(6)
    Base, Event = event_model(table)
    engine = sa.create_engine(URL, future=True,
                              connect_args=connect_args(secrets.token_hex(32)))
    Base.metadata.create_all(engine)
    fill(engine, Event, range(1, ROWS + 1))
    yield engine, Event
    Base.metadata.drop_all(engine)
    engine.dispose()


def test_round_trips(make_engine, key, table_name):
    Base, Event = event_model(table_name)
    # a session time zone of +12:45 / +13:45: instants come back aware
    engine = make_engine(connect_args=connect_args(key, options="-c TimeZone=Pacific/Chatham"))
    Base.metadata.create_all(engine)
    values = [
        dict(title="chlo\u00e9 \U0001f338", day=datetime.date(2024, 2, 29), n=9007199254740993,
             amount=D("-12.50"), at=datetime.datetime(2024, 2, 29, 12, 34, 56, 789, tzinfo=PLUS2),
             doc={"b": [1, 2.5, "\u00e9"], "a": None, "t": True}, blob=bytes(range(256))),
        dict(title="", day=datetime.date.min, n=-2 ** 63, amount=D("NaN"),
             at=FIRST, doc=[], blob=b""),
        dict(title="x" * 5000, day=datetime.date.max, n=2 ** 63 - 1, amount=D("1e-40"),
             at=LAST, doc="a JSON string", blob=b"\x00"),
        dict(title=None, day=None, n=None, amount=D("123456789012345678901234567890.5"),
             at=datetime.datetime(2021, 1, 1, tzinfo=MINUS7), doc=42, blob=bytearray(b"ba")),
        dict(title=None, day=None, n=None, amount=None, at=None, doc=None, blob=None),
    ]
    with Session(engine) as session:
        session.add_all(Event(id=i, **v) for i, v in enumerate(values, 1))
        session.commit()
    with Session(engine) as session:
        got = session.execute(sa.select(Event).order_by(Event.id)).scalars().all()
        for event, want in zip(got, values):
            for k, v in want.items():
                value = getattr(event, k)
                if isinstance(v, bytearray):
                    v = bytes(v)
                if k == "amount" and v is not None and v.is_nan():
                    assert value.is_nan()
                    continue
                assert value == v and type(value) is type(v), (k, value, v)
                if k == "at" and v is not None:
                    assert value.utcoffset() is not None
        # stored as ciphertext, of the declared types
        for col in ("title", "day", "n", "amount", "at", "doc", "blob"):
            raw = session.execute(sa.text('SELECT %s::text FROM "%s" WHERE id = 1'
                                          % (col, table_name))).scalar()
            assert raw.startswith("ecv1:"), col
        types = dict(session.execute(sa.text(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = '\"%s\"'::regclass AND attnum > 1" % table_name)).all())
        assert types == {"title": "encrypted_text(trigram,12)", "day": "encrypted_date(range,7)",
                         "n": "encrypted_bigint(range,100)",
                         "amount": "encrypted_numeric(range,0.01)",
                         "at": "encrypted_timestamptz(range,3600)", "doc": "encrypted_jsonb",
                         "blob": "encrypted_bytea"}
        # operators without a search form work on the plaintext
        assert session.execute(sa.select(Event.id).where(
            Event.doc["b"][1].as_float() == 2.5)).scalars().all() == [1]
        assert session.execute(sa.select(Event.id).where(
            Event.blob == b"\x00")).scalars().all() == [3]
        # an update through the ORM, read back
        got[0].day = datetime.date(2000, 1, 1)
        got[0].doc = {"changed": True}
        session.commit()
        assert session.execute(sa.select(Event.day, Event.doc).where(Event.id == 1)).one() == \
            (datetime.date(2000, 1, 1), {"changed": True})
        assert session.execute(sa.select(Event.id).where(
            sa.func.extract("year", Event.day.plaintext) == 2000)).scalars().all() == [1]
        # check_key and stored_key_ids take the typed columns
        assert stored_key_ids(session, Event.day) == [check_key(session, Event.day, Event.doc)]


def test_naive_datetime_is_refused(make_engine, key, table_name):
    Base, Event = event_model(table_name)
    engine = make_engine(connect_args=connect_args(key))
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(Event(id=1, at=datetime.datetime(2021, 1, 1)))
        with pytest.raises(sa.exc.StatementError) as info:
            session.commit()
    assert isinstance(info.value.orig, ValueError)


@pytest.mark.parametrize("column", ["day", "n", "amount", "at"])
def test_comparisons_are_exact(events, column):
    engine, Event = events
    with engine.connect() as conn:
        found = check_exact(conn, Event, column, range_predicates(BOUNDS[column]))
        assert found > len(BOUNDS[column]) * 5      # the bounds meet rows
        check_order(conn, Event, column, 25)


def test_like_forms_are_exact(events):
    engine, Event = events
    with engine.connect() as conn:
        preds = text_predicates()
        found = check_exact(conn, Event, "title", preds)
        assert found > len(preds) / 2


def test_explain_shows_the_indexes(events):
    engine, Event = events
    t = Event.__tablename__
    cases = [
        (sa.select(Event.id).where(Event.title.startswith("user12")), "%s_title" % t),
        (sa.select(Event.id).where(Event.title.like("user12%")), "%s_title" % t),
        (sa.select(Event.id).where(Event.title.ilike("%SER199%")), "%s_title" % t),
        (sa.select(Event.id).where(Event.title.contains("r199")), "%s_title" % t),
        (sa.select(Event.id).where(Event.day.between(datetime.date(2021, 1, 1),
                                                     datetime.date(2021, 1, 31))), "%s_day" % t),
        (sa.select(Event.id).where(Event.at.between(ATS[0], ATS[1])), "%s_at" % t),
        (sa.select(Event.id).where(Event.n == 5), "%s_n" % t),
        (sa.select(Event.id).order_by(Event.day).limit(10), "%s_day" % t),
        (sa.select(Event).order_by(Event.amount.desc()).limit(10), "%s_amount" % t),
        (sa.select(Event.id).order_by(Event.n.desc()).limit(10), "%s_n" % t),
    ]
    with engine.connect() as conn:
        # the forms the index answers; whether the planner prefers it on
        # 3,000 rows depends on the version's costs (PostgreSQL 15 does,
        # 17 scans for a prefix), so scans are switched off, as the SQL
        # tests do
        conn.exec_driver_sql("SET enable_seqscan = off")
        for stmt, index in cases:
            text = plan(conn, stmt)
            assert re.search(r"(Index Scan using|Index Scan Backward using|Bitmap Index "
                             r"Scan on) %s\s" % index, text), text
            assert "Seq Scan" not in text, text


def test_rotation_keeps_results_exact(make_engine, key, table_name):
    """Rows under the old key and under the new one, during a rotation."""
    Base, Event = event_model(table_name)
    old = make_engine(connect_args=connect_args(key))
    Base.metadata.create_all(old)
    half = 900
    fill(old, Event, range(1, half + 1), tz=PLUS2)
    new_key = secrets.token_hex(32)
    engine = make_engine(connect_args=connect_args(new_key, previous_keys=[key]))
    fill(engine, Event, range(half + 1, 2 * half + 1), tz=MINUS7)
    with engine.connect() as conn:
        ids = conn.execute(sa.text('SELECT count(DISTINCT key_id(day)), count(DISTINCT '
                                   'key_id(title)) FROM "%s"' % table_name)).one()
        assert tuple(ids) == (2, 2)
        assert check_exact(conn, Event, "title", text_predicates()) > 0
        for column in ("day", "n", "amount", "at"):
            assert check_exact(conn, Event, column, range_predicates(BOUNDS[column])) > 0
            check_order(conn, Event, column, 25)
        # a pattern and a range that meet rows of both keys
        both = matching_ids(conn, Event, Event.title.like("user1%"))
        assert min(both) <= half < max(both)
        both = matching_ids(conn, Event, Event.day.between(datetime.date(2021, 1, 1),
                                                           datetime.date(2021, 12, 31)))
        assert min(both) <= half < max(both)
        # the index still answers: one range and one ordered walk per key
        conn.exec_driver_sql("SET enable_seqscan = off")
        text = plan(conn, sa.select(Event.id).where(Event.title.like("user12%")))
        assert "Bitmap Index Scan on %s_title" % table_name in text, text
        text = plan(conn, sa.select(Event.id).where(Event.day.between(
            datetime.date(2021, 1, 1), datetime.date(2021, 1, 31))))
        assert "BitmapOr" in text and "Bitmap Index Scan on %s_day" % table_name in text, text
        for order in (Event.day, Event.day.desc()):
            text = plan(conn, sa.select(Event.id).order_by(order).limit(10))
            assert re.search(r"Index Scan (Backward )?using %s_day" % table_name, text), text
            assert "key_slots" in text, text
    # the old key alone reads its own rows and cannot read the new ones
    with old.connect() as conn:
        with pytest.raises(sa.exc.DBAPIError):
            conn.execute(sa.select(Event.day).where(Event.id == 2 * half)).all()


def test_the_documented_example(make_engine, key):
    """docs/migration.md's example as written, with rows to find."""
    code = docs.block("typed-search")
    namespace = {"Base": declarative_base()}
    exec(code, namespace)
    Customer, Base = namespace["Customer"], namespace["Base"]
    # each statement's comment is the SQL it is sent as
    shown = re.findall(r"^# (.*)\n(\w+) = ", code, re.M)
    assert [name for _, name in shown] == ["by_name", "born_1815", "eldest"]
    for text, name in shown:
        assert text in " ".join(sql(namespace[name]).split()), (name, sql(namespace[name]))
    engine = make_engine(connect_args=connect_args(key))
    Base.metadata.create_all(engine)
    try:
        with Session(engine) as session:
            session.add_all([
                Customer(id=1, name="Ada Lovelace", born=datetime.date(1815, 12, 10)),
                Customer(id=2, name="Charles Babbage", born=datetime.date(1791, 12, 26)),
                Customer(id=3, name="Anne Isabella LOVELACE", born=datetime.date(1815, 1, 1)),
                Customer(id=4, name="Mary Somerville", born=datetime.date(1780, 12, 26)),
                Customer(id=5, name="nobody", born=None)])
            session.commit()
            ids = [[c.id for c in session.execute(namespace[name]).scalars()]
                   for name in ("by_name", "born_1815", "eldest")]
            assert [sorted(ids[0]), sorted(ids[1]), ids[2]] == [[1, 3], [1, 3], [4, 2, 3, 1, 5]]
            assert session.get(Customer, 1).born == datetime.date(1815, 12, 10)
        with engine.connect() as conn:
            indexes = conn.execute(sa.text(
                "SELECT indexdef FROM pg_indexes WHERE tablename = 'customers' "
                "AND indexname <> 'customers_pkey' ORDER BY 1")).scalars().all()
        assert indexes == [
            "CREATE INDEX customers_born ON public.customers USING btree "
            "(born encrypted_date_range_ops)",
            "CREATE INDEX customers_name ON public.customers USING gin (name)"]
    finally:
        Base.metadata.drop_all(engine)
