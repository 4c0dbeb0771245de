-- Analytics: materialized views over sessions, events and objects, and one function that
-- refreshes them all. Each view has a unique index so it can be refreshed CONCURRENTLY,
-- without blocking readers.

-- People with at least one session started that day (UTC).
CREATE MATERIALIZED VIEW daily_active_users AS
SELECT (started_at AT TIME ZONE 'UTC')::date AS day,
       count(DISTINCT user_id)               AS users,
       count(*)                              AS sessions
FROM sessions
GROUP BY 1;
CREATE UNIQUE INDEX daily_active_users_day ON daily_active_users (day);

-- Per space and hour: how many people came in, and how many times.
CREATE MATERIALIZED VIEW space_occupancy_hourly AS
SELECT space_id,
       date_trunc('hour', occurred_at) AS hour,
       count(DISTINCT user_id)         AS visitors,
       count(*)                        AS joins
FROM events
WHERE kind = 'join' AND space_id IS NOT NULL
GROUP BY 1, 2;
CREATE UNIQUE INDEX space_occupancy_hourly_key ON space_occupancy_hourly (space_id, hour);

-- Models by how many objects use them, and in how many spaces.
CREATE MATERIALIZED VIEW most_used_models AS
SELECT model,
       count(*)                 AS objects,
       count(DISTINCT space_id) AS spaces
FROM world_objects
GROUP BY model;
CREATE UNIQUE INDEX most_used_models_model ON most_used_models (model);

CREATE FUNCTION refresh_analytics() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    REFRESH MATERIALIZED VIEW CONCURRENTLY daily_active_users;
    REFRESH MATERIALIZED VIEW CONCURRENTLY space_occupancy_hourly;
    REFRESH MATERIALIZED VIEW CONCURRENTLY most_used_models;
END
$$;
