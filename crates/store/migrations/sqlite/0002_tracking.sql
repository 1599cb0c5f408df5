-- Referral tracking: programs (versioned rules), customers, advocates and their codes,
-- clicks with daily rollups, referrals, conversions.

-- Per-workspace salt for hashing visitor IP addresses (never stored in clear).
ALTER TABLE workspaces ADD COLUMN ip_salt TEXT NOT NULL DEFAULT '';

CREATE TABLE programs (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    public_id TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    version INTEGER NOT NULL,
    rules TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX programs_public_id ON programs (public_id);
CREATE INDEX programs_workspace ON programs (workspace_id, id);

CREATE TABLE program_versions (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    program_id INTEGER NOT NULL REFERENCES programs (id),
    version INTEGER NOT NULL,
    rules TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX program_versions_program ON program_versions (program_id, version);

CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    public_id TEXT NOT NULL,
    email TEXT,
    email_key TEXT,
    name TEXT NOT NULL,
    external_id TEXT,
    phone TEXT NOT NULL,
    attributes TEXT NOT NULL,
    consent_marketing INTEGER NOT NULL,
    created_from TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX customers_public_id ON customers (public_id);
CREATE UNIQUE INDEX customers_external_id ON customers (workspace_id, external_id);
CREATE UNIQUE INDEX customers_email ON customers (workspace_id, email);
CREATE INDEX customers_email_key ON customers (workspace_id, email_key);

CREATE TABLE advocates (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    public_id TEXT NOT NULL,
    program_id INTEGER NOT NULL REFERENCES programs (id),
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    code TEXT NOT NULL,
    vanity_code TEXT,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX advocates_public_id ON advocates (public_id);
CREATE UNIQUE INDEX advocates_program_customer ON advocates (program_id, customer_id);
CREATE INDEX advocates_workspace ON advocates (workspace_id, program_id, id);

-- One row per code, generated or vanity: the whole server shares one code space.
CREATE TABLE referral_codes (
    code TEXT PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    advocate_id INTEGER NOT NULL REFERENCES advocates (id),
    kind TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- Append-only. Click ids and visitor ids start with their time, so indexes grow in order.
CREATE TABLE clicks (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    public_id TEXT NOT NULL,
    program_id INTEGER NOT NULL,
    advocate_id INTEGER NOT NULL,
    visitor_id TEXT NOT NULL,
    ip_hash TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    referer TEXT NOT NULL,
    params TEXT NOT NULL,
    qualified INTEGER NOT NULL,
    unqualified_reason TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX clicks_public_id ON clicks (public_id);
CREATE INDEX clicks_workspace ON clicks (workspace_id, id);
CREATE INDEX clicks_visitor ON clicks (workspace_id, visitor_id);

CREATE TABLE click_rollups (
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    advocate_id INTEGER NOT NULL,
    day INTEGER NOT NULL,
    clicks INTEGER NOT NULL,
    qualified_clicks INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, advocate_id, day)
);

CREATE TABLE referrals (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    public_id TEXT NOT NULL,
    program_id INTEGER NOT NULL REFERENCES programs (id),
    program_version INTEGER NOT NULL,
    advocate_id INTEGER NOT NULL REFERENCES advocates (id),
    friend_customer_id INTEGER NOT NULL REFERENCES customers (id),
    status TEXT NOT NULL,
    rejection_reason TEXT,
    source TEXT NOT NULL,
    click_public_id TEXT,
    fraud_verdict TEXT NOT NULL,
    fraud_findings TEXT NOT NULL,
    trace TEXT NOT NULL,
    conversions INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    converted_at INTEGER,
    qualified_at INTEGER,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX referrals_public_id ON referrals (public_id);
CREATE UNIQUE INDEX referrals_program_friend ON referrals (program_id, friend_customer_id);
CREATE INDEX referrals_workspace_status ON referrals (workspace_id, status, id);
CREATE INDEX referrals_advocate ON referrals (workspace_id, advocate_id);

CREATE TABLE conversions (
    id INTEGER PRIMARY KEY,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id),
    public_id TEXT NOT NULL,
    external_id TEXT NOT NULL,
    customer_id INTEGER NOT NULL REFERENCES customers (id),
    kind TEXT NOT NULL,
    amount_minor INTEGER NOT NULL,
    currency TEXT NOT NULL,
    referral_id INTEGER REFERENCES referrals (id),
    status TEXT NOT NULL,
    trace TEXT NOT NULL,
    occurred_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    reversed_at INTEGER,
    reversal_external_id TEXT
);
CREATE UNIQUE INDEX conversions_public_id ON conversions (public_id);
CREATE UNIQUE INDEX conversions_external_id ON conversions (workspace_id, external_id);
CREATE INDEX conversions_workspace ON conversions (workspace_id, id);
CREATE INDEX conversions_referral ON conversions (referral_id);
