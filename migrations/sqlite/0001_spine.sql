-- Plaza's embedded store: the tables the spine reads and writes.
-- Ids are UUID text; times are milliseconds since the Unix epoch (UTC).

CREATE TABLE spaces (
    id          TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 36),
    name        TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 256),
    created_at  INTEGER NOT NULL
);

CREATE TABLE users (
    id          TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 36),
    name        TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 256),
    created_at  INTEGER NOT NULL
);

CREATE TABLE world_objects (
    id          TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 36),
    space_id    TEXT NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    model       TEXT NOT NULL,
    px REAL NOT NULL, py REAL NOT NULL, pz REAL NOT NULL,
    rx REAL NOT NULL, ry REAL NOT NULL, rz REAL NOT NULL, rw REAL NOT NULL,
    sx REAL NOT NULL, sy REAL NOT NULL, sz REAL NOT NULL,
    props       TEXT NOT NULL CHECK (json_valid(props) AND json_type(props) = 'object'),
    owner_id    TEXT NOT NULL REFERENCES users (id),
    version     INTEGER NOT NULL CHECK (version >= 1),
    updated_at  INTEGER NOT NULL
);
CREATE INDEX world_objects_by_space ON world_objects (space_id);

CREATE TABLE chat_messages (
    id          TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 36),
    space_id    TEXT NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users (id),
    user_name   TEXT NOT NULL,
    text        TEXT NOT NULL CHECK (length(text) >= 1),
    created_at  INTEGER NOT NULL
);
CREATE INDEX chat_messages_by_space_time ON chat_messages (space_id, created_at);
