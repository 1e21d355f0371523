"""The repository's own packages are the ones imported, and the README documents Settings."""

from __future__ import annotations

import re
from pathlib import Path

import actors
import ai
import serve
import storage
from serve.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_top_level_packages_resolve_inside_the_repository():
    for package in (actors, ai, serve, storage):
        assert Path(package.__file__).resolve().is_relative_to(ROOT), package.__file__


def _readme_settings() -> dict[str, str]:
    text = (ROOT / "README.md").read_text()
    table = text.split("<!-- settings-table -->")[1].split("<!-- /settings-table -->")[0]
    rows = re.findall(r"^\| `RAYBASE_([A-Z0-9_]+)` \| (.+?) \|", table, flags=re.M)
    return {name.lower(): default for name, default in rows}


def test_readme_configuration_table_equals_settings():
    documented = _readme_settings()
    assert set(documented) == set(Settings.model_fields)
    for name, field in Settings.model_fields.items():
        expected = "(unset)" if field.default is None else f"`{field.default}`"
        assert documented[name] == expected, name
