-- Objects of indexed types whose vector is to be brought up to date (storage/ai_index.py): the
-- tenant shard's AI sink queues one row per object event; the re-indexer reads the object's text
-- as it is then, embeds it, writes the vector index and deletes the rows it covered (seq at most
-- the one it read). A row may repeat an object: one embedding covers them all.
CREATE TABLE ai_reindex (object_id VARCHAR, object_type_id VARCHAR, seq BIGINT);
