-- A secret each node draws at every start and announces in its heartbeat: other nodes
-- present it when they ask this one for something only it may give away (a session whose
-- client came back through them). Whoever can read this table can read every space
-- anyway; the secret keeps the endpoint closed to clients.
ALTER TABLE cluster_nodes
    ADD COLUMN peer_secret text NOT NULL DEFAULT '' CHECK (length(peer_secret) <= 128);
