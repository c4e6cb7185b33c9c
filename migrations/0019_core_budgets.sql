-- Optional core-hour budgets: core seconds a tenant's, or a group's, jobs may use per
-- calendar month (UTC); NULL: no limit. Checked at submission against `accounting_daily`.
ALTER TABLE tenants ADD COLUMN core_budget bigint;
ALTER TABLE groups ADD COLUMN core_budget bigint;
