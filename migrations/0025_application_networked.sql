-- Whether the platform admin lets an application's jobs reach the network (never this
-- host nor private networks). Applications registered before were not networked.
ALTER TABLE applications ADD COLUMN networked boolean NOT NULL DEFAULT false;
