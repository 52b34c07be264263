-- Bearer tokens of the REST API. Only a SHA-256 digest of each token is kept:
-- tokens are 256-bit random strings, so a fast digest is enough to make a
-- stolen copy of this table useless, and it lets the API look a token up by it.

CREATE TABLE tokens (
    id bigserial PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    digest text NOT NULL UNIQUE,
    name text NOT NULL,
    created_time timestamptz NOT NULL DEFAULT now(),
    expires_time timestamptz NOT NULL
);

CREATE INDEX tokens_by_user ON tokens (user_id);
