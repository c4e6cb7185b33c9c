-- Where a succeeded job's outputs went in its owner's space (the archiver copies them
-- there), or why they could not; and what the archiver still has to do.
ALTER TABLE jobs
    ADD COLUMN outputs_folder uuid,
    ADD COLUMN outputs_note   text;

CREATE INDEX jobs_outputs_unsaved ON jobs (position)
    WHERE state = 'SUCCEEDED' AND outputs_folder IS NULL AND outputs_note IS NULL
      AND outputs <> '[]'::jsonb;
