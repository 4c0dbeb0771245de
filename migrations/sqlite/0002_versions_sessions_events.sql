-- Space versions (raised by every flush that changes a space's objects, compared with
-- Redis snapshots), and the sessions and events the server records.

ALTER TABLE spaces ADD COLUMN version INTEGER NOT NULL DEFAULT 0 CHECK (version >= 0);

CREATE TABLE sessions (
    id          TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 36),
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    transport   TEXT NOT NULL CHECK (transport IN ('ws', 'quic', 'wt')),
    client_addr TEXT,
    user_agent  TEXT CHECK (length(user_agent) <= 512),
    started_at  INTEGER NOT NULL,
    ended_at    INTEGER CHECK (ended_at IS NULL OR ended_at >= started_at)
);
CREATE INDEX sessions_open_by_user ON sessions (user_id) WHERE ended_at IS NULL;
CREATE INDEX sessions_by_start ON sessions (started_at);

CREATE TABLE events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL CHECK (kind IN ('connect', 'disconnect', 'join', 'leave', 'spawn',
                    'despawn', 'chat', 'share_start', 'share_stop', 'upload')),
    space_id    TEXT,
    user_id     TEXT,
    session_id  TEXT,
    data        TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(data)),
    occurred_at INTEGER NOT NULL
);
CREATE INDEX events_by_time ON events (occurred_at);
CREATE INDEX events_by_space_time ON events (space_id, occurred_at);
