-- The memory a resource gives an attempt whose application does not say (MiB); NULL: the
-- installation's default (MEDGRID_SANDBOX_MEMORY_MB). Resources registered before had none.
ALTER TABLE resources ADD COLUMN default_memory_mb bigint;
