"""AI on local models: the model catalogue (models.py), the embedding deployment (embeddings.py)
and the batch indexing job (jobs/index.py)."""
