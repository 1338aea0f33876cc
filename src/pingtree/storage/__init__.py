"""Storage: tables, column types, migrations and engines."""

from pingtree.storage import books as books  # registers the books' tables on Base
