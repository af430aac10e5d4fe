-- When each periodic job last ran, so that of a fleet of workers only one
-- runs it per interval.
CREATE TABLE schedules (
    name        text        PRIMARY KEY,
    last_run_at timestamptz NOT NULL
);
