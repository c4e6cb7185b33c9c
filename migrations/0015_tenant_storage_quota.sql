-- A limit on the bytes all of a tenant's spaces hold together (NULL: none).
ALTER TABLE tenants ADD COLUMN storage_quota bigint;
