"""Each object type's objects move into a typed table of their own; `objects` becomes a view."""

from storage.columns import migrate  # noqa: F401  (the migration)
