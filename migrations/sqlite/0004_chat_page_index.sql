-- Chat history pages by (time, id): with the id in the index, a page after a cursor is one
-- range search instead of reading the whole space and sorting it.
CREATE INDEX chat_messages_by_space_time_id ON chat_messages (space_id, created_at, id);
DROP INDEX chat_messages_by_space_time;
