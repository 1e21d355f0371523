-- AI conversations (storage/ai_conversations.py): a title, the model it talks to, and its turns
-- in order. `messages` counts the turns, so a list answers without reading ai_messages.
CREATE TABLE ai_conversations (
    id VARCHAR, title VARCHAR, model VARCHAR, messages INTEGER, created_at TIMESTAMP,
    updated_at TIMESTAMP
);
-- One turn of a conversation: `seq` orders them (0, 1, ...); an assistant turn keeps the model
-- that wrote it and the tokens it used.
CREATE TABLE ai_messages (
    id VARCHAR, conversation_id VARCHAR, seq INTEGER, role VARCHAR, content VARCHAR,
    model VARCHAR, input_tokens INTEGER, output_tokens INTEGER, finish_reason VARCHAR,
    created_at TIMESTAMP
);
