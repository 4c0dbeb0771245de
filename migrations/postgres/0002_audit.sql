-- Audit trail: triggers record changes to spaces, users, world objects and uploaded
-- models in audit_log, with the row before and after as JSON.
--
-- world_objects is written every tick, so only changes that matter for an audit are
-- recorded there: creation, removal, and a change of space, model or owner. Moves, props
-- and version bumps are not: recording them would double the write volume of the hottest
-- table, and the objects themselves carry their latest state.

CREATE TABLE audit_log (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    table_name text NOT NULL CHECK (table_name IN ('spaces', 'users', 'world_objects', 'uploaded_models')),
    row_id     text NOT NULL,
    action     text NOT NULL CHECK (action IN ('INSERT', 'UPDATE', 'DELETE')),
    old_row    jsonb,
    new_row    jsonb,
    changed_at timestamptz NOT NULL DEFAULT now(),
    db_user    text NOT NULL DEFAULT current_user,
    CHECK ((action = 'INSERT') = (old_row IS NULL) AND (action = 'DELETE') = (new_row IS NULL))
);
CREATE INDEX audit_log_by_row ON audit_log (table_name, row_id, changed_at);
CREATE INDEX audit_log_by_time ON audit_log USING brin (changed_at);

CREATE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_json jsonb;
    new_json jsonb;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        -- Password hashes are secrets: never copied into the log.
        old_json := to_jsonb(OLD) - 'password_hash';
    END IF;
    IF TG_OP <> 'DELETE' THEN
        new_json := to_jsonb(NEW) - 'password_hash';
    END IF;
    INSERT INTO audit_log (table_name, row_id, action, old_row, new_row)
    VALUES (TG_TABLE_NAME, COALESCE(new_json, old_json) ->> 'id', TG_OP, old_json, new_json);
    RETURN NULL;
END
$$;

CREATE TRIGGER spaces_audit AFTER INSERT OR UPDATE OR DELETE ON spaces
    FOR EACH ROW EXECUTE FUNCTION audit_row();

-- last_seen_at alone changes on every visit; that is not worth an audit row.
CREATE TRIGGER users_audit_insert_delete AFTER INSERT OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION audit_row();
CREATE TRIGGER users_audit_update AFTER UPDATE ON users
    FOR EACH ROW WHEN ((to_jsonb(OLD) - 'last_seen_at') IS DISTINCT FROM (to_jsonb(NEW) - 'last_seen_at'))
    EXECUTE FUNCTION audit_row();

CREATE TRIGGER world_objects_audit_insert_delete AFTER INSERT OR DELETE ON world_objects
    FOR EACH ROW EXECUTE FUNCTION audit_row();
CREATE TRIGGER world_objects_audit_update AFTER UPDATE ON world_objects
    FOR EACH ROW WHEN (OLD.space_id IS DISTINCT FROM NEW.space_id
                       OR OLD.model IS DISTINCT FROM NEW.model
                       OR OLD.owner_id IS DISTINCT FROM NEW.owner_id)
    EXECUTE FUNCTION audit_row();

CREATE TRIGGER uploaded_models_audit AFTER INSERT OR UPDATE OR DELETE ON uploaded_models
    FOR EACH ROW EXECUTE FUNCTION audit_row();
