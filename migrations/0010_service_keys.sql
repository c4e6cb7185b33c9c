-- Keys of the service itself, made once by the first process that needs one and shared by
-- every process of this database: the key that signs job-scoped tokens (a token is an
-- HMAC of its attempt, so nothing per token is stored). Not tenant data; the reader role
-- has no access.
CREATE TABLE service_keys (
    name       text        PRIMARY KEY,
    key        bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
