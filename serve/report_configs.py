"""The `config_json` of dashboard widgets and saved reports: the body of a search, aggregate or
report request with its `object_type_id`, checked by those endpoints' own request models
(serve/routes/search.py, serve/routes/reports.py). A bad config answers 400 naming the path
inside it (`config_json.aggregations[0].function`); the store then runs it once on save."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from serve.routes import reports, search
from storage.errors import invalid


class SearchConfig(search.SearchBody):
    object_type_id: str


class AggregateConfig(search.AggregateBody):
    object_type_id: str


MODELS = {"search": SearchConfig, "aggregate": AggregateConfig,
          "pipeline": reports.PipelineReport, "timeseries": reports.TimeseriesReport,
          "leaderboard": reports.LeaderboardReport, "funnel": reports.FunnelReport}
WIDGETS = {"metric": "aggregate", "chart": "aggregate", "table": "search",
           "pipeline": "pipeline", "timeseries": "timeseries", "leaderboard": "leaderboard",
           "funnel": "funnel"}


def _path(field: str, loc: tuple) -> str:
    path = field
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def normalize(kind: str | None, config: Any, field: str = "config_json") -> Any:
    """`config` as the store runs it (the request model's fields), or 400 naming the path;
    a kind the models do not know (a text widget, an unknown type) is left to the store."""
    model = MODELS.get(kind or "")
    if model is None or not isinstance(config, dict):
        return config
    try:
        parsed = model.model_validate(config)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = _path(field, tuple(first.get("loc", ())))
        raise invalid(f"{path}: {first.get('msg')}", path) from None
    if isinstance(parsed, AggregateConfig):
        return {"object_type_id": parsed.object_type_id, "filters": parsed.filters,
                "group_by": parsed.group_by,
                "aggregations": [a.item() for a in parsed.aggregations]}
    return parsed.model_dump()
