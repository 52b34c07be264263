-- The first schema of a deployment. Runs with search_path set to the
-- deployment's schema, inside the migration runner's transaction.
-- The status lists repeat zoe.core.execution.ExecutionStatus and ServiceStatus;
-- a test checks that they agree.

CREATE TABLE users (
    id bigserial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    role text NOT NULL CHECK (role IN ('admin', 'user', 'guest')),
    password_hash text,
    max_executions integer CHECK (max_executions >= 0),
    max_cores_milli bigint CHECK (max_cores_milli >= 0),
    max_memory_bytes bigint CHECK (max_memory_bytes >= 0),
    created_time timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE executions (
    id bigserial PRIMARY KEY,
    name text NOT NULL,
    user_id bigint NOT NULL REFERENCES users (id),
    zapp jsonb NOT NULL,
    status text NOT NULL DEFAULT 'submitted' CHECK (status IN (
        'submitted', 'queued', 'starting', 'running', 'cleaning up',
        'finished', 'terminated', 'rejected', 'error')),
    submit_time timestamptz NOT NULL DEFAULT now(),
    start_time timestamptz,
    end_time timestamptz,
    reason text,
    size_hint double precision,
    request_id text,
    UNIQUE (user_id, request_id)
);

CREATE INDEX executions_by_user ON executions (user_id, id);
CREATE INDEX executions_active ON executions (id)
    WHERE status NOT IN ('finished', 'terminated', 'rejected', 'error');

CREATE TABLE services (
    id bigserial PRIMARY KEY,
    execution_id bigint NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    group_index integer NOT NULL CHECK (group_index >= 0),
    instance_index integer NOT NULL CHECK (instance_index >= 0),
    name text NOT NULL,
    essential boolean NOT NULL,
    status text NOT NULL DEFAULT 'created' CHECK (status IN (
        'created', 'starting', 'running', 'exited', 'failed', 'removed')),
    node text,
    backend_id text,
    created_time timestamptz NOT NULL DEFAULT now(),
    start_time timestamptz,
    end_time timestamptz,
    exit_code integer,
    reason text,
    UNIQUE (execution_id, group_index, instance_index)
);

CREATE TABLE nodes (
    name text PRIMARY KEY,
    cores_milli bigint NOT NULL CHECK (cores_milli >= 0),
    memory_bytes bigint NOT NULL CHECK (memory_bytes >= 0),
    labels text[] NOT NULL DEFAULT '{}',
    available boolean NOT NULL DEFAULT true,
    updated_time timestamptz NOT NULL DEFAULT now()
);

-- Append-only: the repository only ever inserts here.
CREATE TABLE events (
    id bigserial PRIMARY KEY,
    time timestamptz NOT NULL DEFAULT now(),
    subject_kind text NOT NULL CHECK (subject_kind IN ('execution', 'service', 'node')),
    subject_id text NOT NULL,
    old_status text,
    new_status text NOT NULL,
    actor text NOT NULL,
    reason text
);

CREATE INDEX events_by_subject ON events (subject_kind, subject_id, id);

-- Replies to client requests, so that a retried request is answered, not redone.
-- reply is NULL only inside the transaction that carries the request out.
CREATE TABLE requests (
    client_id text NOT NULL,
    request_id text NOT NULL,
    reply jsonb,
    time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client_id, request_id)
);
