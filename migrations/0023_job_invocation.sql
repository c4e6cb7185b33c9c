-- What a job runs (its script and the values the script takes from variables). Jobs
-- submitted before have none: they run their command line as recorded.
ALTER TABLE jobs ADD COLUMN invocation jsonb;
