"""Python support for the encrypted_column PostgreSQL extension.

``encrypted_column.sqlalchemy`` has the SQLAlchemy column type and the
helpers that hand the key to every pooled connection.
"""

__version__ = "0.2.0"
