"""SQLAlchemy support for encrypted_column.

``EncryptedText`` is a column type for the server-side ``encrypted_text``
type: the application sends plain ``str`` values, the server encrypts them
with the session's key, and every SELECT reads the column through
``decrypt()``, so model attributes hold plaintext as before::

    from encrypted_column.sqlalchemy import EncryptedText, connect_args

    engine = create_engine(url, connect_args=connect_args(key_hex))

    class User(Base):
        __tablename__ = "users"
        id = Column(Integer, primary_key=True)
        email = Column(EncryptedText)

``EncryptedTextDet`` is the same for the deterministic type
``encrypted_text_det``: equal plaintexts give equal stored values, so the
column can be ``unique=True`` and indexed, and ``filter_by(email=...)``
is an index lookup that also finds rows written under a previous key
during a rotation.

The key reaches the server in the connection's startup options (libpq's
``options`` parameter), never in an SQL statement: see ``connect_args``
and ``use_key``.  Behind a pooler in transaction mode (PgBouncer), where
startup options cannot pass and a session setting would reach other
clients, ``use_transaction_key`` hands the key in at the start of every
transaction instead.

With stored keys (0.4.0) the data keys stay in the database, wrapped
under a key-encryption key that the server gets from its
``encrypted_column.kek_source``, and the application holds no secret at
all: it names the stored key that encrypts, ``encrypted_column.key_name``.
``connect_args(key_name=...)`` makes a name every connection's default;
``use_transaction_key_name`` sets one per transaction (one key per tenant,
behind a pooler in transaction mode)::

    engine = create_engine(url, connect_args=connect_args(key_name="app"))
    use_transaction_key_name(engine, lambda: "tenant_%d" % current_tenant.get())

The typed types of 0.5.0 (``EncryptedBigInteger``, ``EncryptedNumeric``,
``EncryptedDate``, ``EncryptedDateTime``, ``EncryptedJSON``,
``EncryptedBinary``) hold ``int``, ``Decimal``, ``date``, aware
``datetime``, JSON documents and ``bytes`` the same way.  A column opts in
to search with its type modifier, ``EncryptedText(trigram=True)`` for
``like()`` and ``ilike()``, ``EncryptedDate(range_width=7)`` and its kin
for comparisons, ``between()`` and ``order_by()``; ``search_index()``
makes the index those forms use::

    class Event(Base):
        __tablename__ = "events"
        id = Column(Integer, primary_key=True)
        title = Column(EncryptedText(trigram=True))
        day = Column(EncryptedDate(range_width=7))

    search_index("events_title", Event.title)
    search_index("events_day", Event.day)
"""

import datetime
import decimal
import hashlib
import hmac
import re
import unicodedata

from sqlalchemy import Index, all_, any_, bindparam, cast, event, func, type_coerce
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BindParameter, ColumnClause, ColumnElement
from sqlalchemy.sql.selectable import Select
from sqlalchemy.types import (
    ARRAY,
    BigInteger,
    Date,
    DateTime,
    LargeBinary,
    Numeric,
    String,
    Text,
    UserDefinedType,
)

__all__ = [
    "EncryptedBigInteger",
    "EncryptedBinary",
    "EncryptedDate",
    "EncryptedDateTime",
    "EncryptedJSON",
    "EncryptedNumeric",
    "EncryptedText",
    "EncryptedTextDet",
    "UnknownKeyError",
    "check_key",
    "connect_args",
    "key_id",
    "key_name_options",
    "key_options",
    "libpq_options",
    "refuse_unknown_key",
    "search_index",
    "stored_key_ids",
    "use_key",
    "use_transaction_key",
    "use_transaction_key_name",
]

KEY_SETTING = "encrypted_column.key"
PREVIOUS_KEYS_SETTING = "encrypted_column.previous_keys"
KEY_NAME_SETTING = "encrypted_column.key_name"

# the server keeps key names as PostgreSQL names: at most NAMEDATALEN - 1 bytes
_KEY_NAME_MAX_BYTES = 63

_HEX_KEY = re.compile(r"[0-9A-Fa-f]{64}\Z")
_SETTING_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)+\Z")

# Comparing "IS NULL" needs no decryption: NULL stays NULL.
_NULL_TESTS = {
    op for op in (getattr(operators, name, None)
                  for name in ("is_", "is_not", "isnot"))
    if op is not None
}


# IN and NOT IN, under the names of SQLAlchemy 1.4 and 2.0.
_IN_OPS = (operators.in_op,
           getattr(operators, "not_in_op", None) or operators.notin_op)


def _same_column(op, expr, other):
    """Is this ``column == column`` (or ``!=``) of one column with itself?

    SQLAlchemy's ORM looks columns up in dictionaries, where an annotated
    copy of a column meets the column and ``==`` decides; the expression
    must then stay a comparison of the columns themselves, whose truth is
    the identity of the two.  (Decrypting both sides would make the
    lookup miss, and bulk UPDATE would not refresh the session's objects.)
    """
    return (op in (operators.eq, operators.ne) and len(other) == 1
            and isinstance(other[0], ColumnClause)
            and hash(other[0]) == hash(expr))


def _ops(*names):
    """The operators of these names, as far as this SQLAlchemy has them
    (1.4 has some under two names, 2.0 under the new one only)."""
    return frozenset(op for op in (getattr(operators, n, None) for n in names)
                     if op is not None)


# LIKE and its kin, which an encrypted_text(trigram) column answers
# through its GIN index when the column itself is on the left.
_LIKE_OPS = _ops(
    "like_op", "not_like_op", "notlike_op", "ilike_op", "not_ilike_op",
    "notilike_op", "startswith_op", "not_startswith_op", "notstartswith_op",
    "endswith_op", "not_endswith_op", "notendswith_op", "contains_op",
    "not_contains_op", "notcontains_op")

# Comparisons that the ordered typed types (bigint, numeric, date,
# timestamptz) answer on the column itself: by plaintext, through a
# range_ops index when the column has range terms.
_RANGE_OPS = _ops(
    "lt", "le", "eq", "ne", "ge", "gt", "between_op", "not_between_op",
    "notbetween_op", "in_op", "not_in_op", "notin_op", "is_distinct_from",
    "is_not_distinct_from", "isnot_distinct_from")

# ORDER BY modifiers: on the ordered typed types the column itself sorts
# by plaintext (and walks a range_ops index for ORDER BY ... LIMIT).
_ORDER_OPS = _ops("asc_op", "desc_op", "nulls_first_op", "nulls_last_op",
                  "nullsfirst_op", "nullslast_op")

# the server's limit for the width of (range, width)
_INT4_MAX = 2147483647


def _pattern(value):
    """A LIKE pattern as a text expression: a value becomes a text parameter."""
    if isinstance(value, ColumnElement) or hasattr(value, "__clause_element__"):
        return value
    if not isinstance(value, str):
        raise TypeError("EncryptedText patterns are str values, not %s"
                        % type(value).__name__)
    return bindparam(None, value, type_=Text())


class _EncryptedType(UserDefinedType):
    """What every column type of the package shares: the SQL type
    ``type_name``, the class name for messages, and reads through
    ``decrypt()``.  Not a column type itself; each subclass sets
    ``cache_ok``, which SQLAlchemy reads from the class's own namespace
    only.
    """

    type_name = None        # the SQL type, for CREATE TABLE
    _public_name = None     # the class, for the bind_processor's TypeError

    # Does ORDER BY a bare column of this type sort by decrypt(column)?
    # (True where the stored value has no order, or one that means nothing.)
    _sort_by_plaintext = True


class _EncryptedTextBase(_EncryptedType):
    """What ``EncryptedText`` and ``EncryptedTextDet`` share: plain
    ``str`` values sent as they are (checked here), literals rendered as
    SQL strings.
    """

    @property
    def python_type(self):
        return str

    def get_col_spec(self, **kw):
        return self.type_name

    def bind_processor(self, dialect):
        name = self._public_name

        def process(value):
            if value is not None and not isinstance(value, str):
                raise TypeError(
                    "%s takes str values, not %s" % (name, type(value).__name__))
            return value
        return process

    def literal_processor(self, dialect):
        return String().literal_processor(dialect)


class EncryptedText(_EncryptedTextBase):
    """A column of the extension's ``encrypted_text`` type.

    Writes send the plain string as an ordinary parameter and the server's
    input function encrypts it.  Reads select ``decrypt(column)``.
    Comparisons (``==``, ``in_``, ``like``, ``desc()`` ...) compare the
    decrypted text, which means a sequential scan that decrypts every row:
    values are randomized, so there is no index on them.  ``.plaintext``
    gives the decrypted expression for ORDER BY or GROUP BY.

    ``EncryptedText(trigram=True)`` (DDL ``encrypted_text(trigram)``;
    ``bits`` from 8 to 16 gives ``encrypted_text(trigram, bits)``) stores
    keyed trigram tags with each value.  Then ``like()``, ``ilike()``,
    ``startswith()``, ``endswith()``, ``contains()`` and their negations
    are sent as ``column LIKE pattern`` (``ILIKE``, ``NOT LIKE`` ...),
    which the server answers through a GIN index on the column (see
    ``search_index``) and rechecks by decrypting, so the rows are exactly
    those of the same pattern on the plaintext.
    """

    cache_ok = True
    type_name = "encrypted_text"
    _public_name = "EncryptedText"

    def __init__(self, trigram=False, bits=None):
        if not isinstance(trigram, bool):
            raise TypeError("trigram must be True or False")
        if bits is not None:
            if not trigram:
                raise ValueError("bits needs trigram=True")
            if isinstance(bits, bool) or not isinstance(bits, int) \
                    or not 8 <= bits <= 16:
                raise ValueError("bits must be an integer from 8 to 16")
        self.trigram = trigram
        self.bits = bits

    def get_col_spec(self, **kw):
        if not self.trigram:
            return self.type_name
        if self.bits is None:
            return "%s(trigram)" % self.type_name
        return "%s(trigram,%d)" % (self.type_name, self.bits)

    class comparator_factory(UserDefinedType.Comparator):
        """Operators act on the decrypted text, not on the ciphertext;
        with trigram tags, LIKE and its kin act on the column itself."""

        @property
        def plaintext(self):
            """``decrypt(column)`` as a text expression."""
            return func.decrypt(self.expr, type_=Text())

        def operate(self, op, *other, **kwargs):
            if op in _NULL_TESTS or _same_column(op, self.expr, other):
                return super().operate(op, *other, **kwargs)
            if op in _LIKE_OPS and self.type.trigram:
                # encrypted_text ~~ text: the form the GIN index answers.
                # The pattern is text: typed as this column, the || that
                # startswith() adds would compare its plaintext.
                return super().operate(op, *(_pattern(o) for o in other), **kwargs)
            return op(self.plaintext, *other, **kwargs)

        def reverse_operate(self, op, other, **kwargs):
            return op(other, self.plaintext, **kwargs)

    def column_expression(self, colexpr):
        return func.decrypt(colexpr, type_=self)


class EncryptedTextDet(_EncryptedTextBase):
    """A column of the deterministic type ``encrypted_text_det``.

    Writes send the plain string and the server encrypts it with AES-SIV
    (with ``context``: ``encrypt_det(value, context)``).  Reads select
    ``decrypt(column)``.  Equality with a value (``==``, ``!=``,
    ``in_``, ``not_in``, ``filter_by``) is bound as
    ``column = ANY (encrypt_det_all(CAST(:value AS TEXT)))``: the value's
    encryptions under the current key and every previous key, compared
    with the stored bytes, so the lookup uses the column's index and still
    finds rows written under an old key during a rotation.  Equality with
    another ``EncryptedTextDet`` column compares the stored bytes (joins).
    Other operators (``like``, ``<`` ...) compare the decrypted text,
    row by row.  ``.plaintext`` gives ``decrypt(column)``.

    ``group_by(column)`` and ``func.count(distinct(column))`` work on the
    stored bytes (index, hashing); ``select(column).distinct()`` removes
    duplicates among the decrypted values.  Columns that share a key
    should each have their own ``context`` (for example the table and
    column name), so that equal values in two columns are not linkable.
    """

    cache_ok = True
    type_name = "encrypted_text_det"
    _public_name = "EncryptedTextDet"

    def __init__(self, context=None):
        if context is not None and (not isinstance(context, str) or context == ""):
            raise ValueError("the context must be a non-empty str")
        self.context = context

    class comparator_factory(UserDefinedType.Comparator):
        """Equality with values goes through the rotation-aware index form."""

        @property
        def plaintext(self):
            """``decrypt(column [, context])`` as a text expression."""
            return func.decrypt(*self.type._context_args(self.expr), type_=Text())

        def _other_column(self, value):
            """An ORM attribute (``User.email``, ``aliased(User).email``)
            as the column expression it stands for; anything else as is."""
            if not isinstance(value, ColumnElement) and hasattr(value, "__clause_element__"):
                return value.__clause_element__()
            return value

        def _encryptions(self, value, array=False):
            """``encrypt_det_all(CAST(value AS TEXT[ ]) [, context])``."""
            target = ARRAY(Text()) if array else Text()
            if not isinstance(value, ColumnElement):
                for v in (value if array else [value]):
                    if v is not None and not isinstance(v, str):
                        # as on writes: a lookup by 42 must not find '42'
                        raise TypeError("EncryptedTextDet compares with str values, "
                                        "not %s" % type(v).__name__)
            if isinstance(value, BindParameter):
                value = type_coerce(value, target)
            elif not isinstance(value, ColumnElement):
                value = bindparam(None, value, type_=target)
            return func.encrypt_det_all(
                *self.type._context_args(cast(value, target)),
                type_=ARRAY(self.type))

        def _is_det_column(self, other):
            if not (isinstance(other, ColumnElement)
                    and not isinstance(other, BindParameter)
                    and isinstance(other.type, EncryptedTextDet)):
                return False
            if other.type.context != self.type.context:
                # the stored bytes of two contexts never match: refuse
                # rather than return no rows
                raise ValueError(
                    "EncryptedTextDet columns with different contexts cannot "
                    "be compared on their stored values; compare .plaintext")
            return True

        def _compare(self, equal, values):
            """``col = ANY (values)`` or ``col <> ALL (values)``, on the bytes."""
            if equal:
                return super().operate(operators.eq, any_(values))
            return super().operate(operators.ne, all_(values))

        def operate(self, op, *other, **kwargs):
            if op in _NULL_TESTS:
                return super().operate(op, *other, **kwargs)
            if op in (operators.eq, operators.ne) and len(other) == 1:
                value = self._other_column(other[0])
                if value is None or self._is_det_column(value):
                    return super().operate(op, value, **kwargs)
                return self._compare(op is operators.eq, self._encryptions(value))
            if op in _IN_OPS and len(other) == 1 and isinstance(other[0], (list, tuple)):
                return self._compare(op is _IN_OPS[0],
                                     self._encryptions(list(other[0]), array=True))
            return op(self.plaintext, *other, **kwargs)

        def reverse_operate(self, op, other, **kwargs):
            if op in (operators.eq, operators.ne):
                return self.operate(op, other, **kwargs)
            return op(other, self.plaintext, **kwargs)

    def _context_args(self, expr):
        """The arguments of a function call: the expression, then the context."""
        if self.context is None:
            return (expr,)
        return (expr, bindparam(None, self.context, type_=Text()))

    def bind_expression(self, bindvalue):
        # with a context the value must be encrypted by encrypt_det(); the
        # input function alone knows no context
        if self.context is None:
            return bindvalue
        return func.encrypt_det(cast(bindvalue, Text()),
                                bindparam(None, self.context, type_=Text()),
                                type_=self)

    def column_expression(self, colexpr):
        return func.decrypt(*self._context_args(colexpr), type_=self)


class _EncryptedTyped(_EncryptedType):
    """What the typed types share: values of one Python type sent as the
    plain type's parameter (``CAST(:value AS DATE)``), which the server's
    assignment cast encrypts on writes and its operators compare by
    plaintext; reads select ``decrypt(column)``, which returns the plain
    type, and the plain SQLAlchemy type's result processing applies.
    """

    _plain = None           # the SQLAlchemy type of decrypt(column): a factory
    _accepts = ()           # the Python types a value may have
    _refuses = ()           # subclasses of those that are refused
    _what = None            # the accepted values, for messages

    def _plain_type(self):
        return self._plain()

    @property
    def python_type(self):
        return self._plain_type().python_type

    def get_col_spec(self, **kw):
        return self.type_name

    def _check(self, value):
        if not isinstance(value, self._accepts) or isinstance(value, self._refuses):
            raise TypeError("%s takes %s values, not %s"
                            % (self._public_name, self._what, type(value).__name__))

    def bind_processor(self, dialect):
        check = self._check
        plain = self._plain_type().dialect_impl(dialect).bind_processor(dialect)

        def process(value):
            if value is None:
                return None
            check(value)
            return plain(value) if plain is not None else value
        return process

    def bind_expression(self, bindvalue):
        # the plain type's parameter: written through the assignment cast
        # (which encrypts), compared with the plain type's operators
        return cast(bindvalue, self._plain_type())

    def result_processor(self, dialect, coltype):
        return self._plain_type().dialect_impl(dialect).result_processor(dialect, coltype)

    def literal_processor(self, dialect):
        return self._plain_type().dialect_impl(dialect).literal_processor(dialect)

    def column_expression(self, colexpr):
        return func.decrypt(colexpr, type_=self)

    class comparator_factory(UserDefinedType.Comparator):
        """Operators act on ``decrypt(column)``; ``IS NULL`` on the column."""

        @property
        def plaintext(self):
            """``decrypt(column)``, of the plain type."""
            return func.decrypt(self.expr, type_=self.type._plain_type())

        def _on_column(self, op, other):
            return op in _NULL_TESTS or _same_column(op, self.expr, other)

        def operate(self, op, *other, **kwargs):
            if self._on_column(op, other):
                return super().operate(op, *other, **kwargs)
            return op(self.plaintext, *other, **kwargs)

        def reverse_operate(self, op, other, **kwargs):
            return op(other, self.plaintext, **kwargs)


class _EncryptedOrdered(_EncryptedTyped):
    """What the four ordered typed types share: comparisons, ``between``,
    ``in_`` and ``ORDER BY`` on the column itself, which the server does
    by plaintext, through a ``range_ops`` index when the column was
    declared with ``range_width`` (the ``(range, width)`` modifier).
    """

    _sort_by_plaintext = False  # ORDER BY column is the plaintext order
    _unit = None                # what range_width counts, for messages

    def __init__(self, range_width=None):
        self.range_width = None if range_width is None else self._width(range_width)

    def _width(self, value):
        """range_width as the integer the server takes (1 to 2^31 - 1)."""
        if isinstance(value, bool) or not isinstance(value, int) \
                or not 1 <= value <= _INT4_MAX:
            raise ValueError("range_width of %s must be an integer from 1 to %d (%s)"
                             % (self._public_name, _INT4_MAX, self._unit))
        return value

    def get_col_spec(self, **kw):
        if self.range_width is None:
            return self.type_name
        return "%s(range,%s)" % (self.type_name, self._width_sql())

    def _width_sql(self):
        return "%d" % self.range_width

    @property
    def range_ops(self):
        """The btree operator class of the column's range index."""
        return "%s_range_ops" % self.type_name

    class comparator_factory(_EncryptedTyped.comparator_factory):
        """Comparisons and ORDER BY on the column, which the server does
        by plaintext (and through a range_ops index); other operators
        (arithmetic, functions) on ``decrypt(column)``."""

        def _on_column(self, op, other):
            return op in _RANGE_OPS or op in _ORDER_OPS or \
                super()._on_column(op, other)

        def reverse_operate(self, op, other, **kwargs):
            if op in _RANGE_OPS:
                return super(_EncryptedTyped.comparator_factory, self) \
                    .reverse_operate(op, other, **kwargs)
            return op(other, self.plaintext, **kwargs)


def _timedelta_width(value, unit, seconds, name):
    """A timedelta as a whole number of days or seconds."""
    if isinstance(value, datetime.timedelta):
        whole, rest = divmod(value, datetime.timedelta(seconds=seconds))
        if rest:
            raise ValueError("range_width of %s must be whole %s" % (name, unit))
        return whole
    return value


class EncryptedBigInteger(_EncryptedOrdered):
    """A column of ``encrypted_bigint``: Python ``int`` values.

    ``range_width`` (an integer) gives ``encrypted_bigint(range, width)``:
    each value carries the keyed term of its bucket of that many integers,
    and comparisons, ``between()``, ``in_()`` and ``order_by()`` on the
    column go through a range index (``search_index``).
    """

    cache_ok = True
    type_name = "encrypted_bigint"
    _public_name = "EncryptedBigInteger"
    _plain = BigInteger
    _accepts = (int,)
    _refuses = (bool,)
    _what = "int"
    _unit = "integers"


class EncryptedNumeric(_EncryptedOrdered):
    """A column of ``encrypted_numeric``: ``Decimal`` values (``int`` and
    ``float`` are taken too, and read back as ``Decimal``).

    ``range_width`` (a positive ``Decimal``, ``int`` or decimal string,
    such as ``"0.01"``) gives ``encrypted_numeric(range, width)``; it is
    kept as its decimal string, which ``repr()`` (and so an Alembic
    revision) writes as it is.
    """

    cache_ok = True
    type_name = "encrypted_numeric"
    _public_name = "EncryptedNumeric"
    _plain = Numeric
    _accepts = (decimal.Decimal, int, float)
    _refuses = (bool,)
    _what = "Decimal, int or float"
    _unit = "a positive decimal number"

    def _width(self, value):
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            try:
                value = decimal.Decimal(value)
            except decimal.InvalidOperation:
                pass
        if not isinstance(value, decimal.Decimal) or not value.is_finite() \
                or value <= 0:
            raise ValueError("range_width of EncryptedNumeric must be a positive "
                             "decimal number (Decimal, int or str)")
        return format(value.normalize(), "f")

    def _width_sql(self):
        return self.range_width


class EncryptedDate(_EncryptedOrdered):
    """A column of ``encrypted_date``: ``datetime.date`` values (not
    ``datetime``).

    ``range_width`` in days (an integer, or a ``timedelta`` of whole
    days) gives ``encrypted_date(range, width)``.
    """

    cache_ok = True
    type_name = "encrypted_date"
    _public_name = "EncryptedDate"
    _plain = Date
    _accepts = (datetime.date,)
    _refuses = (datetime.datetime,)
    _what = "datetime.date"
    _unit = "days"

    def _width(self, value):
        return super()._width(_timedelta_width(value, "days", 86400, self._public_name))


class EncryptedDateTime(_EncryptedOrdered):
    """A column of ``encrypted_timestamptz``: timezone-aware
    ``datetime.datetime`` values (naive ones are refused, since the
    server would read them in its own time zone); read back aware.

    ``range_width`` in seconds (an integer, or a ``timedelta`` of whole
    seconds) gives ``encrypted_timestamptz(range, width)``.
    """

    cache_ok = True
    type_name = "encrypted_timestamptz"
    _public_name = "EncryptedDateTime"
    _accepts = (datetime.datetime,)
    _what = "timezone-aware datetime"
    _unit = "seconds"

    def _plain_type(self):
        return DateTime(timezone=True)

    def _check(self, value):
        super()._check(value)
        if value.utcoffset() is None:
            raise ValueError("EncryptedDateTime takes timezone-aware datetime "
                             "values, not naive ones")

    def _width(self, value):
        return super()._width(_timedelta_width(value, "seconds", 1, self._public_name))


class EncryptedJSON(_EncryptedTyped):
    """A column of ``encrypted_jsonb``: JSON documents (``dict``,
    ``list``, ``str``, numbers, booleans), read back as Python objects.
    ``None`` is SQL NULL.  Operators (``["key"]``, ``==`` ...) act on
    ``decrypt(column)``, row by row; the type takes no search terms.
    """

    cache_ok = True
    type_name = "encrypted_jsonb"
    _public_name = "EncryptedJSON"
    _accepts = (dict, list, str, int, float, bool)
    _what = "JSON"

    def _plain_type(self):
        return postgresql.JSONB(none_as_null=True)

    @property
    def python_type(self):
        return dict


class EncryptedBinary(_EncryptedTyped):
    """A column of ``encrypted_bytea``: ``bytes`` values (``bytearray``
    and ``memoryview`` are taken too), read back as ``bytes``.  Operators
    act on ``decrypt(column)``; the type takes no search terms.
    """

    cache_ok = True
    type_name = "encrypted_bytea"
    _public_name = "EncryptedBinary"
    _plain = LargeBinary
    _accepts = (bytes, bytearray, memoryview)
    _what = "bytes"


def search_index(name, column, **kwargs):
    """The index that a column's search forms use, as an ``Index``.

    For ``EncryptedText(trigram=True)`` a GIN index (LIKE, ILIKE); for an
    ordered typed type with ``range_width``, a btree index with the type's
    ``range_ops`` operator class (comparisons, BETWEEN, ORDER BY ...
    LIMIT).  ``column`` is a table's ``Column`` or an ORM attribute, so
    the index joins the table's metadata and ``create_all`` creates it;
    ``kwargs`` go to ``Index``.  Neither index can be UNIQUE.
    """
    if not isinstance(column, ColumnElement) and hasattr(column, "__clause_element__"):
        column = column.__clause_element__()
    coltype = getattr(column, "type", None)
    if isinstance(coltype, EncryptedText) and coltype.trigram:
        return Index(name, column, postgresql_using="gin", **kwargs)
    if isinstance(coltype, _EncryptedOrdered) and coltype.range_width is not None:
        return Index(name, column, postgresql_ops={column.key: coltype.range_ops},
                     **kwargs)
    raise TypeError("search_index needs a column of EncryptedText(trigram=True) or "
                    "of a typed type with range_width")


def _plaintext_order(element):
    """An ORDER BY element with a bare encrypted column as ``decrypt(column)``.

    ``asc()``, ``desc()`` and the other operators already go through the
    comparators; a bare column does not, and the stored bytes of
    ``encrypted_text_det`` have a btree order that means nothing.  The
    ordered typed types stay as they are: the server sorts them by
    plaintext itself, and walks their range index for ORDER BY ... LIMIT.
    """
    if isinstance(element, ColumnClause) and isinstance(element.type, _EncryptedType) \
            and element.type._sort_by_plaintext:
        return element.comparator.plaintext
    return element


@compiles(Select, "postgresql")
def _select_in_plaintext_order(element, compiler, **kw):
    """``order_by(User.email)`` sorts by the plaintext, as ``.plaintext`` does.

    The statement is copied, never changed, so SQLAlchemy's statement
    cache keys it as the application wrote it.
    """
    clauses = element._order_by_clauses
    if clauses:
        rewritten = tuple(_plaintext_order(c) for c in clauses)
        if any(a is not b for a, b in zip(rewritten, clauses)):
            element = element._generate()
            element._order_by_clauses = rewritten
    return compiler.visit_select(element, **kw)


class UnknownKeyError(RuntimeError):
    """The session's key wrote none of the values already in a column."""


def key_id(key):
    """The 8 hex digits ``current_key_id()`` gives for ``key``, computed here.

    The first 4 bytes of HKDF-SHA256 (no salt) of the key with the info
    string ``encrypted_column key id``: the same id the server writes into
    every value's envelope.  Not secret; the key itself is never echoed.
    """
    raw = bytes.fromhex(_checked_key(key, "encrypted_column key"))
    prk = hmac.new(b"\0" * 32, raw, hashlib.sha256).digest()
    return hmac.new(prk, b"encrypted_column key id\x01",
                    hashlib.sha256).digest()[:4].hex()


def _column_sql(column, dialect, raw=False):
    """(table, column) of a Column or an ORM attribute, quoted for SQL.

    As SQLAlchemy quotes them, percent signs are doubled for drivers with
    the format paramstyles, which undo that when they execute; ``raw``
    gives the names as written, for a DBAPI cursor that runs a statement
    without parameters, and for messages.
    """
    if not isinstance(column, ColumnElement) and hasattr(column, "__clause_element__"):
        column = column.__clause_element__()
    table = getattr(column, "table", None)
    if not isinstance(column, ColumnClause) or table is None \
            or not isinstance(column.type, _EncryptedType):
        raise TypeError("expected a table's column of an encrypted type (EncryptedText, "
                        "EncryptedTextDet, EncryptedDate ...), or its ORM attribute")
    prep = dialect.identifier_preparer
    names = prep.format_table(table), prep.quote(column.name)
    if raw and getattr(prep, "_double_percents", False):
        names = tuple(n.replace("%%", "%") for n in names)
    return names


def _key_check_sql(column, dialect, raw):
    """One statement: the current key id; whether it wrote a value of the
    column; whether the column holds any value.  Reads key ids only."""
    table, col = _column_sql(column, dialect, raw)
    return ("SELECT current_key_id(), "
            "EXISTS (SELECT 1 FROM %(t)s WHERE key_id(%(c)s) = current_key_id()), "
            "EXISTS (SELECT 1 FROM %(t)s WHERE %(c)s IS NOT NULL)"
            % {"t": table, "c": col})


def _stored_ids_sql(column, dialect, raw):
    table, col = _column_sql(column, dialect, raw)
    return ("SELECT DISTINCT key_id(%(c)s) FROM %(t)s WHERE %(c)s IS NOT NULL ORDER BY 1"
            % {"t": table, "c": col})


def _connection(connection):
    """The ``Connection`` of a SQLAlchemy ``Connection`` or ``Session``."""
    if hasattr(connection, "exec_driver_sql"):
        return connection
    return connection.connection()


def _rows(connection, sql):
    """The rows of a statement without parameters, sent to the driver as
    SQLAlchemy sends its own (no parsing of colons in quoted names)."""
    return _connection(connection).exec_driver_sql(sql).all()


def _check(run, dialect, columns, allow, raw):
    """check_key's work; ``run(sql)`` gives a statement's rows (``raw``:
    through a DBAPI cursor, without parameters)."""
    if not columns:
        raise TypeError("check_key needs at least one column")
    allowed = {a.lower() for a in allow}
    current = None
    for column in columns:
        current, written, nonempty = run(_key_check_sql(column, dialect, raw))[0]
        if current is None:
            raise UnknownKeyError("the session has no encrypted_column key")
        if written or not nonempty or current in allowed:
            continue
        ids = [r[0] for r in run(_stored_ids_sql(column, dialect, raw))]
        table, col = _column_sql(column, dialect, raw=True)
        raise UnknownKeyError(
            "the session's key (key id %s) wrote none of the values in %s.%s "
            "(key ids %s): refused, since what it writes there no other key "
            "can read; hand in the right key, or allow its id when a new key "
            "starts a rotation" % (current, table, col, ", ".join(ids)))
    return current


def stored_key_ids(connection, column):
    """The key ids of the values stored in ``column`` (a ``Column`` or an
    ORM attribute), sorted.  Needs no key: it reads envelope headers only
    (``key_id()``), scanning the whole table.  ``connection`` is a
    SQLAlchemy ``Connection`` or ``Session``.
    """
    conn = _connection(connection)
    return [r[0] for r in _rows(conn, _stored_ids_sql(column, conn.dialect, False))]


def check_key(connection, *columns, allow=()):
    """Refuse a session key that wrote none of the values in ``columns``.

    A wrong but well-formed key works: it encrypts new rows that no one
    can read, and an ``encrypted_text_det`` UNIQUE index cannot see that
    their plaintexts are already there.  For each column (a ``Column`` or
    an ORM attribute) that holds values, the session's key id must be
    among the key ids stored there, or in ``allow`` (key ids, see
    ``key_id()``: the new key at the start of a rotation).  Nothing is
    decrypted; each column costs a scan of its table's key ids at worst.
    Raises ``UnknownKeyError``; returns the key id.  ``connection`` is a
    SQLAlchemy ``Connection`` or ``Session``; with ``use_transaction_key``
    call it inside the transaction.
    """
    conn = _connection(connection)
    return _check(lambda sql: _rows(conn, sql), conn.dialect, columns, allow, False)


def refuse_unknown_key(engine, *columns, allow=()):
    """Run ``check_key`` on every new connection of an engine.

    For keys handed in as connection options (``connect_args``,
    ``use_key``): a connection whose key wrote none of the stored values
    of ``columns`` fails to open with ``UnknownKeyError``, before the
    application can write with it.  ``allow`` may be a callable, called
    for each new connection.  Returns the engine.
    """
    if not columns:
        raise TypeError("refuse_unknown_key needs at least one column")
    for column in columns:
        _column_sql(column, engine.dialect)     # refuse a wrong argument now

    @event.listens_for(engine, "connect")
    def _check_new_connection(dbapi_connection, connection_record):
        allowed = allow() if callable(allow) else allow
        cursor = dbapi_connection.cursor()

        def run(sql):
            cursor.execute(sql)
            return cursor.fetchall()
        try:
            _check(run, engine.dialect, columns, allowed, True)
        except UnknownKeyError:
            cursor.close()
            dbapi_connection.close()    # never handed out
            raise
        cursor.close()
        dbapi_connection.rollback()

    return engine


def _escape_option(value):
    """Escape a value for libpq's options string (backslash, whitespace)."""
    return "".join("\\" + ch if ch == "\\" or ch.isspace() else ch
                   for ch in value)


def libpq_options(settings):
    """A libpq ``options`` string setting each name to its value.

    Values are escaped as the server splits the string, so passphrases
    with spaces or backslashes arrive intact.
    """
    parts = []
    for name, value in settings.items():
        if not _SETTING_NAME.match(name):
            raise ValueError("not a setting name: %r" % name)
        if not isinstance(value, str):
            raise TypeError("setting %s: the value must be a str" % name)
        parts.append("-c %s=%s" % (name, _escape_option(value)))
    return " ".join(parts)


def _checked_key(key, what):
    """The key itself, after checking it is 64 hex digits (never echoed)."""
    if not isinstance(key, str) or not _HEX_KEY.match(key):
        raise ValueError("%s must be 64 hex digits" % what)
    return key


def key_options(key, previous_keys=()):
    """The libpq ``options`` string that hands a session its keys.

    ``key`` encrypts and decrypts; ``previous_keys`` only decrypt (key
    rotation).  Each is 64 hex digits.
    """
    settings = {KEY_SETTING: _checked_key(key, "encrypted_column key")}
    previous = [_checked_key(k, "each previous key") for k in previous_keys]
    if previous:
        settings[PREVIOUS_KEYS_SETTING] = ",".join(previous)
    return libpq_options(settings)


def _checked_key_name(name):
    """A stored key's name, after checking it as the server would take it.

    1 to 63 bytes in UTF-8, with no control character (which no key name
    needs, and which would let a name break a log line).  Key names are
    not secret, so the messages quote them.
    """
    if not isinstance(name, str):
        raise TypeError("a key name must be a str, not %s" % type(name).__name__)
    size = len(name.encode("utf-8", "surrogatepass"))
    if not 1 <= size <= _KEY_NAME_MAX_BYTES:
        raise ValueError("a key name must be 1 to %d bytes long in UTF-8 (%r is %d)"
                         % (_KEY_NAME_MAX_BYTES, name, size))
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in name):
        raise ValueError("a key name must not contain control characters: %r" % name)
    return name


def key_name_options(name):
    """The libpq ``options`` string that makes ``name`` the session's key name.

    ``encrypted_column.key_name`` names the stored key (``create_key``,
    ``import_key``) that encrypts new values; decryption finds each value's
    stored key by the key id in it, so no setting is needed to read.  The
    name is not secret: with a server-side ``kek_source`` nothing secret
    reaches the server from the application.
    """
    return libpq_options({KEY_NAME_SETTING: _checked_key_name(name)})


def _merge_options(existing, extra):
    return "%s %s" % (existing, extra) if existing else extra


def connect_args(key=None, previous_keys=(), settings=None, options=None,
                 key_name=None):
    """``connect_args`` for ``create_engine`` with a libpq driver.

    Every connection the pool opens starts with the key set, as the
    session's default, so no SQL statement carries it and a ``RESET ALL``
    or ``DISCARD ALL`` keeps it.  ``key_name`` instead (or as well) names
    the stored key that encrypts; it wins over ``key`` for new values,
    and a raw ``key`` and ``previous_keys`` still decrypt what they wrote
    (the way from a 0.3 key to stored keys).  At least one of ``key`` and
    ``key_name`` is needed.  ``settings`` adds other settings, and
    ``options`` is kept in front of them.
    """
    if key is None and key_name is None:
        raise TypeError("connect_args needs a key or a key_name")
    parts = []
    if key is not None:
        parts.append(key_options(key, previous_keys))
    else:
        previous = [_checked_key(k, "each previous key") for k in previous_keys]
        if previous:
            parts.append(libpq_options({PREVIOUS_KEYS_SETTING: ",".join(previous)}))
    if key_name is not None:
        parts.append(key_name_options(key_name))
    if settings:
        parts.append(libpq_options(settings))
    return {"options": _merge_options(options, " ".join(parts))}


def use_key(engine, key, previous_keys=()):
    """Hand the key to every new connection of an existing engine.

    ``key`` and ``previous_keys`` may be callables, called for each new
    connection, so a key read from a secret store or rotated at run time
    reaches connections opened after the change.  Returns the engine.
    """
    @event.listens_for(engine, "do_connect")
    def _hand_in_key(dialect, conn_rec, cargs, cparams):
        current = key() if callable(key) else key
        previous = previous_keys() if callable(previous_keys) else previous_keys
        cparams["options"] = _merge_options(cparams.get("options"),
                                            key_options(current, previous))

    return engine


# One placeholder per DBAPI paramstyle (PEP 249), for positional values.
_PLACEHOLDERS = {
    "format": "%s",
    "pyformat": "%s",
    "qmark": "?",
    "numeric": ":%d",
    "numeric_dollar": "$%d",
    "named": ":p%d",
}


def _set_config_statement(paramstyle, values):
    """set_config(..., true) for each (name, value): the SQL and its parameters."""
    placeholder = _PLACEHOLDERS.get(paramstyle)
    if placeholder is None:
        raise ValueError("unsupported DBAPI paramstyle %r" % paramstyle)
    calls = []
    for i, (name, _) in enumerate(values, 1):
        mark = placeholder % i if "%d" in placeholder else placeholder
        calls.append("set_config('%s', %s, true)" % (name, mark))
    sql = "SELECT " + ", ".join(calls)
    if paramstyle == "named":
        return sql, {"p%d" % i: v for i, (_, v) in enumerate(values, 1)}
    return sql, tuple(v for _, v in values)


def use_transaction_key(engine, key, previous_keys=()):
    """Hand the key in at the start of every transaction of an engine.

    For a pooler in transaction mode, which gives each transaction
    whichever server connection is free: a ``begin`` listener runs
    ``SELECT set_config('encrypted_column.key', %s, true)`` with the key
    as a parameter, so the key lasts until the transaction's COMMIT or
    ROLLBACK and never reaches another client of the pool.  Statements
    outside a transaction (an AUTOCOMMIT connection, legacy autocommit of
    SQLAlchemy 1.4 without ``future=True``) get no key and fail with
    SQLSTATE 55000.  The statement goes straight to the DBAPI cursor, so
    SQLAlchemy's echo and its execute events (where tracing tools record
    parameters) never see the key.  ``key`` and ``previous_keys`` may be
    callables, called at every BEGIN.  Returns the engine.
    """
    paramstyle = engine.dialect.paramstyle

    @event.listens_for(engine, "begin")
    def _hand_in_key(conn):
        current = key() if callable(key) else key
        previous = previous_keys() if callable(previous_keys) else previous_keys
        values = [(KEY_SETTING, _checked_key(current, "encrypted_column key"))]
        previous = [_checked_key(k, "each previous key") for k in previous]
        if previous:
            values.append((PREVIOUS_KEYS_SETTING, ",".join(previous)))
        sql, params = _set_config_statement(paramstyle, values)
        cursor = conn.connection.cursor()
        try:
            cursor.execute(sql, params)
        finally:
            cursor.close()

    return engine


def use_transaction_key_name(engine, name):
    """Name the stored key that encrypts, at the start of every transaction.

    A ``begin`` listener runs ``SELECT set_config('encrypted_column.key_name',
    %s, true)`` through the DBAPI cursor, as ``use_transaction_key`` does,
    so the name lasts until the transaction's COMMIT or ROLLBACK: behind a
    pooler in transaction mode it never reaches another client, and a
    tenant's transaction never encrypts with another tenant's key.  The
    name is not secret; the key itself stays in the database, wrapped
    under the server's key-encryption key, and a role uses it only if it
    was granted it (``grant_key``), else the statement fails with SQLSTATE
    42501.

    ``name`` may be a callable, called at every BEGIN: a multi-tenant
    application picks the tenant's key per transaction, for example from a
    ``contextvars.ContextVar``.  A callable that returns ``None`` sets
    nothing, so the session's default (``connect_args(key_name=...)``)
    applies.  Names are checked here, before any statement: 1 to 63 bytes
    in UTF-8, no control characters (``ValueError``).  Statements outside
    a transaction (AUTOCOMMIT) get no name.  Returns the engine.
    """
    if not callable(name):
        _checked_key_name(name)     # refuse a wrong argument now
    paramstyle = engine.dialect.paramstyle

    @event.listens_for(engine, "begin")
    def _name_the_key(conn):
        current = name() if callable(name) else name
        if current is None:
            return
        sql, params = _set_config_statement(
            paramstyle, [(KEY_NAME_SETTING, _checked_key_name(current))])
        cursor = conn.connection.cursor()
        try:
            cursor.execute(sql, params)
        finally:
            cursor.close()

    return engine
