"""Python support for the encrypted_column PostgreSQL extension.

``encrypted_column.sqlalchemy`` has the SQLAlchemy column types
(``EncryptedText``, ``EncryptedTextDet``, and ``EncryptedBigInteger``,
``EncryptedNumeric``, ``EncryptedDate``, ``EncryptedDateTime``,
``EncryptedJSON``, ``EncryptedBinary`` for the typed types),
``search_index()`` for their indexes, and the functions that hand the key
to every pooled connection; ``encrypted_column.alembic`` has the Alembic
operation that moves a column into an encrypted type in place.
"""

__version__ = "0.5.0"
