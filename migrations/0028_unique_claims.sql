-- Issue 18, item 4: what must be unique across all tenants, not only within one: an issuer
-- with an audience (a bearer token must point at one tenant), an issuer with a client id
-- (one entry of the sign-in chooser), a tenant name as people read it (case folded, NFKC,
-- whitespace collapsed). Taken and released in the transaction that appends a tenant's
-- events (infra/src/claims.rs), so a second taker is refused and writes nothing. Not a read
-- model: nobody but the event store reads it, and the reader role has no grant on it.
CREATE TABLE unique_claims (
    kind  text NOT NULL,
    key   text NOT NULL,
    -- a provider's id, or a tenant's for its name
    owner uuid NOT NULL,
    PRIMARY KEY (kind, key)
);
CREATE INDEX unique_claims_by_owner ON unique_claims (owner);

-- The claims of the events written so far are taken by the first start after this
-- migration (name keys need Unicode folding done the way the service does it, in Rust):
-- this row says that is still due. Providers colliding with an older registration then
-- get an IdentityProviderDisabled event.
CREATE TABLE unique_claims_backfill (due boolean PRIMARY KEY);
INSERT INTO unique_claims_backfill VALUES (true);

-- Why a provider admits nobody (NULL: it does).
ALTER TABLE identity_providers ADD COLUMN disabled_reason text;
