-- Browser sign-ins in progress (authorization code + PKCE): what the callback must check.
-- Not events and not tenant data: a row lives minutes and is deleted when the callback
-- uses it, so a replayed callback finds nothing.
CREATE TABLE login_attempts (
    state         text        PRIMARY KEY,
    provider_id   uuid        NOT NULL,
    nonce         text        NOT NULL,
    pkce_verifier text        NOT NULL,
    return_to     text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_attempts_by_age ON login_attempts (created_at);
