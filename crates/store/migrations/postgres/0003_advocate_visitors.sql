-- The browsers (visitor ids) an advocate is known to use, e.g. from the join page: their own
-- clicks never qualify, and a friend arriving from one of them is the advocate themselves.
CREATE TABLE advocate_visitors (
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id),
    advocate_id BIGINT NOT NULL REFERENCES advocates (id),
    visitor_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, advocate_id, visitor_id)
);
CREATE INDEX advocate_visitors_visitor ON advocate_visitors (workspace_id, visitor_id);
