-- Rows the store refused as data (a value it cannot hold, a broken constraint): the writer
-- isolates them from the rest of their flush and keeps them here with the error, so one bad
-- row never stops the others. `payload` is the row as JSON text.
CREATE TABLE dead_letters (
    id         INTEGER PRIMARY KEY,
    table_name TEXT NOT NULL,
    row_key    TEXT NOT NULL,
    payload    TEXT NOT NULL,
    error      TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX dead_letters_by_time ON dead_letters (created_at);

-- A guest is who holds its secret (issued at its first hello), not whoever says its name.
ALTER TABLE users ADD COLUMN guest_secret_hash BLOB
    CHECK (guest_secret_hash IS NULL OR length(guest_secret_hash) = 32);
