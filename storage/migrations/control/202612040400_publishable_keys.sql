-- A publishable key (safe to ship in a browser app) carries only `auth` and reaches only the
-- pre-login routes: never the Users admin API, governance or the auth config.
ALTER TABLE api_keys ADD COLUMN publishable BOOLEAN DEFAULT false;
