-- Rewards: one row per cause (workspace, source event, rule, beneficiary), so any number of
-- duplicate deliveries and replays make one reward.
CREATE TABLE rewards (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    public_id TEXT NOT NULL,
    cause_key TEXT NOT NULL,
    program_id INTEGER NOT NULL REFERENCES programs (id),
    program_version INTEGER NOT NULL,
    referral_id INTEGER REFERENCES referrals (id),
    conversion_id INTEGER REFERENCES conversions (id),
    advocate_id INTEGER REFERENCES advocates (id),
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    beneficiary TEXT NOT NULL,
    rule_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    amount_minor INTEGER NOT NULL,
    currency TEXT NOT NULL,
    detail TEXT NOT NULL,
    tier TEXT,
    campaigns TEXT NOT NULL,
    campaign_extra_minor INTEGER NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL,
    refusal TEXT,
    hold_until INTEGER NOT NULL,
    code TEXT,
    posted INTEGER NOT NULL,
    payout_id INTEGER,
    lost_value_minor INTEGER NOT NULL,
    occurred_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    approved_at INTEGER,
    fulfilled_at INTEGER,
    ended_at INTEGER,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX rewards_public_id ON rewards (public_id);
CREATE UNIQUE INDEX rewards_cause_key ON rewards (workspace_id, cause_key);
CREATE INDEX rewards_by_status ON rewards (workspace_id, status, hold_until);
CREATE INDEX rewards_by_customer ON rewards (workspace_id, customer_id, id);
CREATE INDEX rewards_by_referral ON rewards (workspace_id, referral_id);
CREATE INDEX rewards_by_conversion ON rewards (workspace_id, conversion_id);
CREATE INDEX rewards_by_program ON rewards (workspace_id, program_id, status);

-- The ledger: transactions of balanced entries, append-only (the triggers below refuse any
-- change), keyed by cause like rewards.
CREATE TABLE ledger_transactions (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    public_id TEXT NOT NULL,
    cause_key TEXT NOT NULL,
    currency TEXT NOT NULL,
    kind TEXT NOT NULL,
    reward_id INTEGER REFERENCES rewards (id),
    payout_id INTEGER,
    memo TEXT NOT NULL,
    posted_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX ledger_transactions_public_id ON ledger_transactions (public_id);
CREATE UNIQUE INDEX ledger_transactions_cause_key ON ledger_transactions (workspace_id, cause_key);
CREATE TABLE ledger_entries (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    transaction_id INTEGER NOT NULL REFERENCES ledger_transactions (id),
    account TEXT NOT NULL,
    customer_id INTEGER NOT NULL,
    currency TEXT NOT NULL,
    amount_minor INTEGER NOT NULL,
    posted_at INTEGER NOT NULL
);
CREATE INDEX ledger_entries_by_account ON ledger_entries (workspace_id, account, customer_id, currency, posted_at);
CREATE INDEX ledger_entries_by_transaction ON ledger_entries (transaction_id);
CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only: post a reversing transaction'); END;
CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only: post a reversing transaction'); END;
CREATE TRIGGER ledger_transactions_no_update BEFORE UPDATE ON ledger_transactions
BEGIN SELECT RAISE(ABORT, 'ledger transactions are append-only: post a reversing transaction'); END;
CREATE TRIGGER ledger_transactions_no_delete BEFORE DELETE ON ledger_transactions
BEGIN SELECT RAISE(ABORT, 'ledger transactions are append-only: post a reversing transaction'); END;

-- Running balances, kept in the posting's transaction; derivable from the entries at any time.
CREATE TABLE ledger_balances (
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    account TEXT NOT NULL,
    customer_id INTEGER NOT NULL,
    currency TEXT NOT NULL,
    balance_minor INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, account, customer_id, currency)
);

-- Discount codes: imported pools, or generated from a pattern on demand.
CREATE TABLE code_pools (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    public_id TEXT NOT NULL,
    key TEXT NOT NULL,
    name TEXT NOT NULL,
    pattern TEXT,
    low_stock_threshold INTEGER NOT NULL,
    low_stock_alerted INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX code_pools_public_id ON code_pools (public_id);
CREATE UNIQUE INDEX code_pools_key ON code_pools (workspace_id, key);
CREATE TABLE pool_codes (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    pool_id INTEGER NOT NULL REFERENCES code_pools (id),
    code TEXT NOT NULL,
    reward_id INTEGER REFERENCES rewards (id),
    assigned_at INTEGER,
    redeemed_at INTEGER,
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX pool_codes_pool_id_code ON pool_codes (pool_id, code);
CREATE INDEX pool_codes_free ON pool_codes (pool_id, reward_id, id);

-- Premium features unlocked by rewards, read by the business's own system.
CREATE TABLE entitlements (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    public_id TEXT NOT NULL,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    feature TEXT NOT NULL,
    reward_id INTEGER NOT NULL REFERENCES rewards (id),
    starts_at INTEGER NOT NULL,
    ends_at INTEGER,
    revoked_at INTEGER,
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX entitlements_public_id ON entitlements (public_id);
CREATE INDEX entitlements_by_customer ON entitlements (workspace_id, customer_id);

-- Referral Sprints.
CREATE TABLE campaigns (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    public_id TEXT NOT NULL,
    name TEXT NOT NULL,
    headline TEXT NOT NULL,
    program_ids TEXT NOT NULL,
    starts_at INTEGER NOT NULL,
    ends_at INTEGER NOT NULL,
    time_zone TEXT NOT NULL,
    effect TEXT NOT NULL,
    stackable INTEGER NOT NULL,
    sides TEXT NOT NULL,
    audience TEXT NOT NULL,
    budget_minor INTEGER,
    spent_minor INTEGER NOT NULL,
    cancelled_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX campaigns_public_id ON campaigns (public_id);
CREATE INDEX campaigns_by_end ON campaigns (workspace_id, ends_at);

-- Payout batches of payable cash.
CREATE TABLE payouts (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    public_id TEXT NOT NULL,
    batch_key TEXT NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    minimum_minor INTEGER NOT NULL,
    total_minor INTEGER NOT NULL,
    payees INTEGER NOT NULL,
    provider TEXT NOT NULL,
    reference TEXT,
    created_at INTEGER NOT NULL,
    paid_at INTEGER,
    cancelled_at INTEGER,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX payouts_public_id ON payouts (public_id);
CREATE UNIQUE INDEX payouts_batch_key ON payouts (workspace_id, batch_key);
CREATE TABLE payout_items (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    payout_id INTEGER NOT NULL REFERENCES payouts (id),
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    amount_minor INTEGER NOT NULL
);
CREATE UNIQUE INDEX payout_items_payout_id_customer_id ON payout_items (payout_id, customer_id);

-- A refund that arrived before its conversion: applied when the conversion comes, so the
-- outcome does not depend on the order deliveries arrive in.
CREATE TABLE early_reversals (
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    external_id TEXT NOT NULL,
    reversal_external_id TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, external_id)
);

-- What the admin must be told (a pool running dry, a cap reached), shown on the dashboard.
CREATE TABLE notices (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    message TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    dismissed_at INTEGER
);
CREATE UNIQUE INDEX notices_kind_subject ON notices (workspace_id, kind, subject);
