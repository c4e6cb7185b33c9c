-- Failed sign-ins, counted per account and per tenant in fixed windows, here so that every
-- API replica sees the same counts. Not events and not a read model: counters that start
-- again when their window has passed (or, for an account, when it signs in). Unknown
-- accounts are counted too (their id derives from tenant and e-mail), so a lockout says
-- nothing of whether an account exists. No tenant_id column: nothing here is tenant data
-- a member reads; only the service writes and reads it, before the caller is known.
CREATE TABLE sign_in_failures (
    kind     text        NOT NULL CHECK (kind IN ('account', 'tenant')),
    id       uuid        NOT NULL,
    failures integer     NOT NULL,
    since    timestamptz NOT NULL,
    PRIMARY KEY (kind, id)
);
-- Counts whose window has passed are removed as new failures are counted.
CREATE INDEX sign_in_failures_by_age ON sign_in_failures (since);
