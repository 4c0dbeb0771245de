-- Accounts, private spaces and the rest of the product's tables: registered users (argon2
-- hashes), login tokens (only their SHA-256 is stored), space members and admins, screen
-- shares, uploaded models, media assets and visitor tracking. Same shapes as PostgreSQL's.

ALTER TABLE users ADD COLUMN password_hash TEXT
    CHECK (password_hash IS NULL OR password_hash LIKE '$argon2%');
ALTER TABLE users ADD COLUMN is_admin INTEGER NOT NULL DEFAULT 0 CHECK (is_admin IN (0, 1));
ALTER TABLE users ADD COLUMN last_seen_at INTEGER;

ALTER TABLE spaces ADD COLUMN description TEXT NOT NULL DEFAULT ''
    CHECK (length(description) <= 4096);
ALTER TABLE spaces ADD COLUMN is_private INTEGER NOT NULL DEFAULT 0 CHECK (is_private IN (0, 1));
ALTER TABLE spaces ADD COLUMN owner_id TEXT REFERENCES users (id) ON DELETE SET NULL;

ALTER TABLE sessions ADD COLUMN end_reason TEXT CHECK (length(end_reason) <= 256);

CREATE TABLE space_members (
    space_id   TEXT NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT NOT NULL DEFAULT 'member' CHECK (role IN ('member', 'admin')),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (space_id, user_id)
);

CREATE TABLE auth_tokens (
    token_hash BLOB PRIMARY KEY NOT NULL CHECK (length(token_hash) = 32),
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX auth_tokens_by_expiry ON auth_tokens (expires_at);

CREATE TABLE screen_shares (
    id         TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 36),
    space_id   TEXT NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('screen', 'window', 'tab', 'camera')),
    started_at INTEGER NOT NULL,
    ended_at   INTEGER CHECK (ended_at IS NULL OR ended_at >= started_at)
);
CREATE INDEX screen_shares_active_by_space ON screen_shares (space_id) WHERE ended_at IS NULL;

CREATE TABLE uploaded_models (
    id           TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 36),
    content_hash BLOB NOT NULL UNIQUE CHECK (length(content_hash) = 32),
    name         TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 256),
    size_bytes   INTEGER NOT NULL CHECK (size_bytes > 0),
    content_type TEXT NOT NULL DEFAULT 'model/gltf-binary',
    storage_key  TEXT NOT NULL UNIQUE CHECK (length(storage_key) BETWEEN 1 AND 1024),
    uploaded_by  TEXT REFERENCES users (id) ON DELETE SET NULL,
    metadata     TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
    created_at   INTEGER NOT NULL
);

CREATE TABLE media_assets (
    id           TEXT PRIMARY KEY NOT NULL CHECK (length(id) = 36),
    kind         TEXT NOT NULL CHECK (kind IN ('screenshot', 'avatar', 'attachment')),
    content_type TEXT NOT NULL,
    size_bytes   INTEGER NOT NULL CHECK (size_bytes > 0),
    content_hash BLOB NOT NULL CHECK (length(content_hash) = 32),
    storage_key  TEXT NOT NULL UNIQUE CHECK (length(storage_key) BETWEEN 1 AND 1024),
    owner_id     TEXT REFERENCES users (id) ON DELETE SET NULL,
    space_id     TEXT REFERENCES spaces (id) ON DELETE SET NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX media_assets_by_owner ON media_assets (owner_id);

CREATE TABLE visitor_tracking (
    visitor_id    TEXT NOT NULL CHECK (length(visitor_id) BETWEEN 8 AND 128),
    space_id      TEXT NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    user_id       TEXT REFERENCES users (id) ON DELETE SET NULL,
    first_seen_at INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    visits        INTEGER NOT NULL DEFAULT 1 CHECK (visits >= 1),
    user_agent    TEXT CHECK (length(user_agent) <= 512),
    PRIMARY KEY (visitor_id, space_id)
);
