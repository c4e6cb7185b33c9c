-- What the sandbox gives each job (memory, disk, the descriptor's environment), decided at
-- submission; jobs recorded before have the defaults.
ALTER TABLE jobs ADD COLUMN sandbox jsonb NOT NULL DEFAULT '{}';
