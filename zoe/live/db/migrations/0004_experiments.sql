-- Experiments submitted through the REST API: a specification (TOML text) run
-- by a worker of an API process into a folder the API chooses (its data folder,
-- experiments/<deployment>/<id>). The status list repeats
-- zoe.live.db.experiments.ExperimentStatus.
-- runner names the API process that runs the experiment; it writes
-- heartbeat_time while it does, so another process can resume an experiment
-- whose runner went away.

CREATE TABLE experiments (
    id bigserial PRIMARY KEY,
    name text NOT NULL,
    user_id bigint NOT NULL REFERENCES users (id),
    spec text NOT NULL,
    status text NOT NULL DEFAULT 'queued' CHECK (status IN (
        'queued', 'running', 'done', 'failed', 'cancelled')),
    runs_total integer NOT NULL CHECK (runs_total >= 0),
    runs_done integer NOT NULL DEFAULT 0 CHECK (runs_done >= 0),
    runs_failed integer NOT NULL DEFAULT 0 CHECK (runs_failed >= 0),
    submit_time timestamptz NOT NULL DEFAULT now(),
    start_time timestamptz,
    end_time timestamptz,
    heartbeat_time timestamptz,
    runner text,
    error text
);

CREATE INDEX experiments_by_user ON experiments (user_id, id);
CREATE INDEX experiments_active ON experiments (id)
    WHERE status IN ('queued', 'running');
