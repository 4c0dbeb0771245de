-- The cluster: the nodes sharing this database, and which node simulates each space.

-- Every live node refreshes its row each heartbeat; a node whose heartbeat is older than the
-- lease time is taken for dead (its row stays, for the operator to see when it was last up).
CREATE TABLE cluster_nodes (
    node_id           text PRIMARY KEY CHECK (length(node_id) BETWEEN 1 AND 128),
    -- A new one at every start, so a restarted node is told apart from its last run.
    incarnation       uuid NOT NULL,
    version           text NOT NULL CHECK (length(version) <= 64),
    -- Where clients reach it: http(s)://host:port (WebSocket at /ws) and the UDP ports.
    http_url          text NOT NULL CHECK (length(http_url) <= 512),
    quic_port         integer NOT NULL DEFAULT 0 CHECK (quic_port BETWEEN 0 AND 65535),
    webtransport_port integer NOT NULL DEFAULT 0 CHECK (webtransport_port BETWEEN 0 AND 65535),
    cert_sha256       text NOT NULL DEFAULT '' CHECK (length(cert_sha256) <= 128),
    sessions          integer NOT NULL DEFAULT 0 CHECK (sessions >= 0),
    spaces            integer NOT NULL DEFAULT 0 CHECK (spaces >= 0),
    max_sessions      integer NOT NULL DEFAULT 0 CHECK (max_sessions >= 0),
    -- Share of one core the node's process used since its last heartbeat.
    cpu               real NOT NULL DEFAULT 0,
    draining          boolean NOT NULL DEFAULT false,
    started_at        timestamptz NOT NULL,
    heartbeat_at      timestamptz NOT NULL
);

-- One owner per space. `epoch` rises with every claim and never falls (a released space
-- keeps its row with an expired lease), so every flush can check that it is still the
-- space's current owner: see src/store/postgres/cluster.rs.
CREATE TABLE space_owners (
    space_id    uuid PRIMARY KEY REFERENCES spaces (id) ON DELETE CASCADE,
    node_id     text NOT NULL CHECK (length(node_id) BETWEEN 1 AND 128),
    epoch       bigint NOT NULL CHECK (epoch > 0),
    lease_until timestamptz NOT NULL,
    -- Set while the owner hands the space to this node (POST /api/admin/spaces/{id}/move).
    moving_to   text CHECK (length(moving_to) <= 128)
);
CREATE INDEX space_owners_node ON space_owners (node_id);
