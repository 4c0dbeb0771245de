-- A temporary space (a load test's, a demo's) is left out of the public list; whoever made
-- it deletes it when done (DELETE /api/spaces/{id}).
ALTER TABLE spaces ADD COLUMN is_temporary INTEGER NOT NULL DEFAULT 0 CHECK (is_temporary IN (0, 1));
