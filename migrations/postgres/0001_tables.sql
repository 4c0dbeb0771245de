-- Plaza's PostgreSQL schema: the ten tables of the predecessor, with keys, foreign keys,
-- the indexes the server's queries use, and CHECKs that keep bad data out.
-- Ids are UUIDs chosen by the server; times are timestamptz (UTC).

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    name          text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 256),
    display_name  text CHECK (length(display_name) <= 256),
    -- argon2 PHC string of registered users; NULL for guests.
    password_hash text CHECK (password_hash IS NULL OR password_hash LIKE '$argon2%'),
    is_guest      boolean NOT NULL DEFAULT true,
    is_admin      boolean NOT NULL DEFAULT false,
    avatar_url    text CHECK (length(avatar_url) <= 2048),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz,
    CHECK (is_guest OR password_hash IS NOT NULL)
);

CREATE TABLE spaces (
    id          uuid PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 256),
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 4096),
    is_private  boolean NOT NULL DEFAULT false,
    owner_id    uuid REFERENCES users (id) ON DELETE SET NULL,
    max_users   integer CHECK (max_users IS NULL OR max_users > 0),
    settings    jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(settings) = 'object'),
    -- Rises with every flush that changes the space's objects; a Redis snapshot is used
    -- for loading only when it carries at least this version.
    version     bigint NOT NULL DEFAULT 0 CHECK (version >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sessions (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    transport   text NOT NULL CHECK (transport IN ('ws', 'quic', 'wt')),
    client_addr inet,
    user_agent  text CHECK (length(user_agent) <= 512),
    started_at  timestamptz NOT NULL,
    ended_at    timestamptz,
    end_reason  text CHECK (length(end_reason) <= 256),
    CHECK (ended_at IS NULL OR ended_at >= started_at)
);
-- Open sessions (closing stale ones; "who is online") and retention by age.
CREATE INDEX sessions_open_by_user ON sessions (user_id) WHERE ended_at IS NULL;
CREATE INDEX sessions_by_start ON sessions (started_at);

-- The hot table: every tick's object changes land here. Updates touch only unindexed
-- columns (transform, props, version, updated_at), so with free space in the page they
-- are HOT updates: no index writes, and the old version is pruned within the page.
-- fillfactor 70 leaves that free space (about two more versions of a row per page slot);
-- autovacuum runs after 1 % of rows are dead instead of 20 %, with a higher cost limit,
-- so a table rewritten many times a second does not bloat between vacuums.
CREATE TABLE world_objects (
    id         uuid PRIMARY KEY,
    space_id   uuid NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    model      text NOT NULL CHECK (length(model) BETWEEN 1 AND 256),
    px real NOT NULL, py real NOT NULL, pz real NOT NULL,
    rx real NOT NULL, ry real NOT NULL, rz real NOT NULL, rw real NOT NULL,
    sx real NOT NULL, sy real NOT NULL, sz real NOT NULL,
    props      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(props) = 'object'),
    owner_id   uuid REFERENCES users (id) ON DELETE SET NULL,
    version    bigint NOT NULL CHECK (version >= 1),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK ('NaN'::real NOT IN (px, py, pz, rx, ry, rz, rw, sx, sy, sz))
) WITH (
    fillfactor = 70,
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_analyze_scale_factor = 0.05,
    autovacuum_vacuum_cost_limit = 2000
);
CREATE INDEX world_objects_by_space ON world_objects (space_id);

CREATE TABLE uploaded_models (
    id           uuid PRIMARY KEY,
    -- SHA-256 of the file: identical uploads are stored once.
    content_hash bytea NOT NULL UNIQUE CHECK (length(content_hash) = 32),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 256),
    size_bytes   bigint NOT NULL CHECK (size_bytes > 0),
    content_type text NOT NULL DEFAULT 'model/gltf-binary' CHECK (length(content_type) <= 128),
    storage_key  text NOT NULL UNIQUE CHECK (length(storage_key) BETWEEN 1 AND 1024),
    uploaded_by  uuid REFERENCES users (id) ON DELETE SET NULL,
    metadata     jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX uploaded_models_by_uploader ON uploaded_models (uploaded_by);

CREATE TABLE chat_messages (
    id         uuid PRIMARY KEY,
    space_id   uuid NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    user_id    uuid REFERENCES users (id) ON DELETE SET NULL,
    user_name  text NOT NULL CHECK (length(user_name) BETWEEN 1 AND 256),
    text       text NOT NULL CHECK (length(text) BETWEEN 1 AND 4000),
    created_at timestamptz NOT NULL
);
-- Latest lines of a space, and pages of history before a time.
CREATE INDEX chat_messages_by_space_time ON chat_messages (space_id, created_at DESC, id DESC);

CREATE TABLE screen_shares (
    id         uuid PRIMARY KEY,
    space_id   uuid NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    session_id uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       text NOT NULL DEFAULT 'screen' CHECK (kind IN ('screen', 'window', 'tab', 'camera')),
    started_at timestamptz NOT NULL DEFAULT now(),
    ended_at   timestamptz,
    CHECK (ended_at IS NULL OR ended_at >= started_at)
);
CREATE UNIQUE INDEX screen_shares_one_active_per_session ON screen_shares (session_id)
    WHERE ended_at IS NULL;
CREATE INDEX screen_shares_active_by_space ON screen_shares (space_id) WHERE ended_at IS NULL;

CREATE TABLE visitor_tracking (
    visitor_id    text NOT NULL CHECK (length(visitor_id) BETWEEN 8 AND 128),
    space_id      uuid NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    user_id       uuid REFERENCES users (id) ON DELETE SET NULL,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    visits        integer NOT NULL DEFAULT 1 CHECK (visits >= 1),
    user_agent    text CHECK (length(user_agent) <= 512),
    PRIMARY KEY (visitor_id, space_id),
    CHECK (last_seen_at >= first_seen_at)
);
CREATE INDEX visitor_tracking_by_space_last_seen ON visitor_tracking (space_id, last_seen_at);

CREATE TABLE events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('connect', 'disconnect', 'join', 'leave', 'spawn',
                    'despawn', 'chat', 'share_start', 'share_stop', 'upload')),
    space_id    uuid REFERENCES spaces (id) ON DELETE SET NULL,
    user_id     uuid REFERENCES users (id) ON DELETE SET NULL,
    -- No foreign key: events outlive pruned sessions.
    session_id  uuid,
    data        jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(data) = 'object'),
    occurred_at timestamptz NOT NULL
);
-- Append-only in time order: BRIN is tiny and serves retention and time-range scans.
CREATE INDEX events_by_time ON events USING brin (occurred_at);
CREATE INDEX events_by_space_time ON events (space_id, occurred_at);

CREATE TABLE media_assets (
    id           uuid PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('screenshot', 'avatar', 'attachment')),
    content_type text NOT NULL CHECK (content_type ~ '^[a-z]+/[a-z0-9.+-]+$'),
    size_bytes   bigint NOT NULL CHECK (size_bytes > 0),
    content_hash bytea NOT NULL CHECK (length(content_hash) = 32),
    storage_key  text NOT NULL UNIQUE CHECK (length(storage_key) BETWEEN 1 AND 1024),
    owner_id     uuid REFERENCES users (id) ON DELETE SET NULL,
    space_id     uuid REFERENCES spaces (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX media_assets_by_owner ON media_assets (owner_id);
CREATE INDEX media_assets_by_space ON media_assets (space_id);
