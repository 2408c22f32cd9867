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

The key reaches the server in the connection's startup options (libpq's
``options`` parameter), never in an SQL statement: see ``connect_args``
and ``use_key``.  Behind a pooler in transaction mode (PgBouncer), where
startup options cannot pass and a session setting would reach other
clients, ``use_transaction_key`` hands the key in at the start of every
transaction instead.
"""

import re

from sqlalchemy import event, func
from sqlalchemy.sql import operators
from sqlalchemy.types import String, Text, UserDefinedType

__all__ = [
    "EncryptedText",
    "connect_args",
    "key_options",
    "libpq_options",
    "use_key",
    "use_transaction_key",
]

KEY_SETTING = "encrypted_column.key"
PREVIOUS_KEYS_SETTING = "encrypted_column.previous_keys"

_HEX_KEY = re.compile(r"[0-9A-Fa-f]{64}\Z")
_SETTING_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)+\Z")

# Comparing "IS NULL" needs no decryption: NULL stays NULL.
_NULL_TESTS = {
    op for op in (getattr(operators, name, None)
                  for name in ("is_", "is_not", "isnot"))
    if op is not None
}


class EncryptedText(UserDefinedType):
    """A column of the extension's ``encrypted_text`` type.

    Writes send the plain string as an ordinary parameter and the server's
    input function encrypts it.  Reads select ``decrypt(column)``.
    Comparisons (``==``, ``in_``, ``like``, ``desc()`` ...) compare the
    decrypted text, which means a sequential scan that decrypts every row:
    values are randomized, so there is no index on them.  ``.plaintext``
    gives the decrypted expression for ORDER BY or GROUP BY.
    """

    cache_ok = True

    class comparator_factory(UserDefinedType.Comparator):
        """Operators act on the decrypted text, not on the ciphertext."""

        @property
        def plaintext(self):
            """``decrypt(column)`` as a text expression."""
            return func.decrypt(self.expr, type_=Text())

        def operate(self, op, *other, **kwargs):
            if op in _NULL_TESTS:
                return super().operate(op, *other, **kwargs)
            return op(self.plaintext, *other, **kwargs)

        def reverse_operate(self, op, other, **kwargs):
            return op(other, self.plaintext, **kwargs)

    @property
    def python_type(self):
        return str

    def get_col_spec(self, **kw):
        return "encrypted_text"

    def bind_processor(self, dialect):
        def process(value):
            if value is not None and not isinstance(value, str):
                raise TypeError(
                    "EncryptedText takes str values, not %s" % type(value).__name__)
            return value
        return process

    def literal_processor(self, dialect):
        return String().literal_processor(dialect)

    def column_expression(self, colexpr):
        return func.decrypt(colexpr, type_=self)


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


def _merge_options(existing, extra):
    return "%s %s" % (existing, extra) if existing else extra


def connect_args(key, previous_keys=(), settings=None, options=None):
    """``connect_args`` for ``create_engine`` with a libpq driver.

    Every connection the pool opens starts with the key set, as the
    session's default, so no SQL statement carries it and a ``RESET ALL``
    or ``DISCARD ALL`` keeps it.  ``settings`` adds other settings, and
    ``options`` is kept in front of them.
    """
    result = key_options(key, previous_keys)
    if settings:
        result = _merge_options(result, libpq_options(settings))
    return {"options": _merge_options(options, result)}


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
