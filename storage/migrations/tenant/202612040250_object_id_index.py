"""Each object type's table gets an index on its object ids (tables made before it had none)."""

from storage.columns import index_sql


def migrate(conn) -> None:
    for (type_id,) in conn.execute("SELECT id FROM object_types").fetchall():
        conn.execute(index_sql(type_id))
