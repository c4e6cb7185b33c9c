-- Identity federation (issue 4): the providers each tenant trusts, how members of a tenant
-- come to exist (provisioning), and the provider identity of each member.
CREATE TABLE identity_providers (
    id         uuid PRIMARY KEY,
    tenant_id  uuid        NOT NULL,
    name       text        NOT NULL,
    issuer     text        NOT NULL,
    audience   text        NOT NULL,
    client_id  text,
    claims     jsonb       NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    position   bigint      NOT NULL
);
-- A bearer token names its issuer: that is how its tenant is found.
CREATE INDEX identity_providers_by_issuer ON identity_providers (issuer, audience);
CREATE INDEX identity_providers_by_tenant ON identity_providers (tenant_id, position);

ALTER TABLE tenants ADD COLUMN provisioning text NOT NULL DEFAULT 'INVITATION_ONLY';

-- A local account's address is unique by construction (its id derives from it); people
-- from a provider may share an address with a local account, so the table no longer
-- refuses it (a refusal here would stop the projection, not the command).
ALTER TABLE members DROP CONSTRAINT members_tenant_id_email_key;
CREATE INDEX members_by_email ON members (tenant_id, email);
ALTER TABLE members
    ADD COLUMN status     text   NOT NULL DEFAULT 'ACTIVE',
    ADD COLUMN issuer     text,
    ADD COLUMN subject    text,
    ADD COLUMN idp_roles  text[] NOT NULL DEFAULT '{}',
    ADD COLUMN idp_groups text[] NOT NULL DEFAULT '{}';
CREATE INDEX members_by_identity ON members (tenant_id, issuer, subject) WHERE issuer IS NOT NULL;
