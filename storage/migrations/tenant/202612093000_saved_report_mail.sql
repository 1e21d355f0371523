-- Scheduled saved reports are mailed to their recipients (actors/saved_report_schedule.py):
-- `export_format` is the attachment's format (csv, json, xlsx or pdf); `mail_pending` marks a
-- scheduled run whose mail has not been sent or given up yet (set in the run's commit, cleared
-- when the outcome is recorded: a mail that was not sent before a crash goes on the next alarm);
-- `last_mailed_at` / `last_mail_error` are the last attempt's outcome.
ALTER TABLE saved_reports ADD COLUMN export_format VARCHAR;
ALTER TABLE saved_reports ADD COLUMN mail_pending BOOLEAN;
ALTER TABLE saved_reports ADD COLUMN last_mailed_at TIMESTAMP;
ALTER TABLE saved_reports ADD COLUMN last_mail_error VARCHAR;
