-- Phone one-time codes (storage/auth/otp.py): at most one open code per phone; `code_hash` is the
-- SHA-256 of the row id and the code, `attempts` counts wrong codes (5 spend it).
CREATE TABLE otp_codes (
    id VARCHAR, phone VARCHAR, code_hash VARCHAR, attempts INTEGER, created_at TIMESTAMP,
    expires_at TIMESTAMP, used_at TIMESTAMP
);
