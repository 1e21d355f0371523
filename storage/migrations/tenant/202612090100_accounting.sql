-- Accounting (storage/accounting/): the tenant's double-entry books. Amounts are exact decimals
-- in major units (DECIMAL(18, 6): below a trillion, at most 6 places); rates DECIMAL(18, 10).
-- The ledger is `acct_postings`: one row per line of a posted journal entry, append-only, with
-- the entry's date and each line's base-currency amount, so statements scan one table.
CREATE TABLE acct_settings (id VARCHAR PRIMARY KEY, base_currency VARCHAR NOT NULL,
                            updated_at TIMESTAMP);
-- Currencies the tenant added, and its changes to built-in ones (iso4217.py holds the rest).
CREATE TABLE acct_currencies (id VARCHAR PRIMARY KEY, code VARCHAR NOT NULL, name VARCHAR,
                              symbol VARCHAR, decimal_places INTEGER, created_at TIMESTAMP,
                              updated_at TIMESTAMP);
CREATE TABLE acct_exchange_rates (id VARCHAR PRIMARY KEY, from_currency VARCHAR NOT NULL,
                                  to_currency VARCHAR NOT NULL, rate DECIMAL(18, 10) NOT NULL,
                                  effective_date DATE NOT NULL, created_at TIMESTAMP);
CREATE TABLE acct_accounts (id VARCHAR PRIMARY KEY, code VARCHAR NOT NULL, name VARCHAR NOT NULL,
                            type VARCHAR NOT NULL, sub_type VARCHAR, parent_id VARCHAR,
                            description VARCHAR, currency VARCHAR, is_active BOOLEAN,
                            is_system BOOLEAN, created_at TIMESTAMP, updated_at TIMESTAMP);
CREATE TABLE acct_periods (id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL, start_date DATE NOT NULL,
                           end_date DATE NOT NULL, status VARCHAR NOT NULL, closed_at TIMESTAMP,
                           created_at TIMESTAMP, updated_at TIMESTAMP);
-- Journal entries. `lines` (JSON) holds a draft's lines; a posted entry's are its postings.
CREATE TABLE acct_entries (id VARCHAR PRIMARY KEY, number BIGINT, date DATE NOT NULL,
                           description VARCHAR, reference VARCHAR, currency VARCHAR NOT NULL,
                           exchange_rate DECIMAL(18, 10), status VARCHAR NOT NULL,
                           source VARCHAR, source_id VARCHAR, reversal_of VARCHAR,
                           reversed_by VARCHAR, lines VARCHAR, total DECIMAL(18, 6),
                           posted_at TIMESTAMP, created_at TIMESTAMP, updated_at TIMESTAMP);
-- `kind` 'tax' marks a tax line (tax payable or receivable) of the code `tax_code_id`; other
-- lines with a `tax_code_id` are the amounts taxed under it.
CREATE TABLE acct_postings (id VARCHAR PRIMARY KEY, entry_id VARCHAR NOT NULL, line_no INTEGER,
                            date DATE NOT NULL, account_id VARCHAR NOT NULL,
                            debit DECIMAL(18, 6) NOT NULL, credit DECIMAL(18, 6) NOT NULL,
                            base_debit DECIMAL(18, 6) NOT NULL, base_credit DECIMAL(18, 6) NOT NULL,
                            currency VARCHAR, description VARCHAR, tax_code_id VARCHAR,
                            kind VARCHAR, created_at TIMESTAMP);
CREATE TABLE acct_tax_codes (id VARCHAR PRIMARY KEY, code VARCHAR NOT NULL, name VARCHAR,
                             rate DECIMAL(9, 4) NOT NULL, type VARCHAR NOT NULL, category VARCHAR,
                             account_id VARCHAR, is_active BOOLEAN, created_at TIMESTAMP,
                             updated_at TIMESTAMP);
CREATE TABLE acct_invoices (id VARCHAR PRIMARY KEY, number BIGINT, type VARCHAR NOT NULL,
                            contact_name VARCHAR, date DATE NOT NULL, due_date DATE,
                            currency VARCHAR NOT NULL, notes VARCHAR, lines VARCHAR,
                            subtotal DECIMAL(18, 6), tax_total DECIMAL(18, 6),
                            total DECIMAL(18, 6), amount_paid DECIMAL(18, 6),
                            status VARCHAR NOT NULL, entry_id VARCHAR, void_entry_id VARCHAR,
                            approved_at TIMESTAMP, voided_at TIMESTAMP, created_at TIMESTAMP,
                            updated_at TIMESTAMP);
CREATE TABLE acct_payments (id VARCHAR PRIMARY KEY, number BIGINT, type VARCHAR NOT NULL,
                            contact_name VARCHAR, date DATE NOT NULL, amount DECIMAL(18, 6),
                            currency VARCHAR NOT NULL, method VARCHAR, bank_account_id VARCHAR,
                            reference VARCHAR, allocations VARCHAR, status VARCHAR NOT NULL,
                            entry_id VARCHAR, void_entry_id VARCHAR, voided_at TIMESTAMP,
                            created_at TIMESTAMP, updated_at TIMESTAMP);
CREATE TABLE acct_bank_accounts (id VARCHAR PRIMARY KEY, name VARCHAR NOT NULL,
                                 account_number VARCHAR, bank_name VARCHAR, currency VARCHAR,
                                 gl_account_id VARCHAR, is_active BOOLEAN, created_at TIMESTAMP,
                                 updated_at TIMESTAMP);
CREATE TABLE acct_bank_transactions (id VARCHAR PRIMARY KEY, bank_account_id VARCHAR NOT NULL,
                                     date DATE NOT NULL, description VARCHAR,
                                     amount DECIMAL(18, 6) NOT NULL, type VARCHAR NOT NULL,
                                     reference VARCHAR, fingerprint VARCHAR NOT NULL,
                                     status VARCHAR NOT NULL, matched_entry_id VARCHAR,
                                     matched_payment_id VARCHAR, matched_at TIMESTAMP,
                                     reconciled_at TIMESTAMP, created_at TIMESTAMP,
                                     updated_at TIMESTAMP);
CREATE TABLE acct_recurring (id VARCHAR PRIMARY KEY, name VARCHAR, type VARCHAR NOT NULL,
                             template VARCHAR NOT NULL, frequency VARCHAR NOT NULL,
                             next_run DATE, end_date DATE, is_active BOOLEAN, last_run DATE,
                             runs INTEGER, last_result_id VARCHAR, created_at TIMESTAMP,
                             updated_at TIMESTAMP);
