-- Recurring entries (storage/accounting/recurring.py): `anchor_day` is the day of the month the
-- schedule was started on (monthly, quarterly and yearly runs come back to it, clamped to the
-- month's end: Jan 31, Feb 28, Mar 31); `last_error` is why the schedule stopped itself.
ALTER TABLE acct_recurring ADD COLUMN anchor_day INTEGER;
ALTER TABLE acct_recurring ADD COLUMN last_error VARCHAR;
