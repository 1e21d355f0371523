"""Ray jobs of the AI area: `python -m ai.jobs.<name>` (or through `ray job submit`)."""
