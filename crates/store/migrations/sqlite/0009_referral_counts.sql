-- Tier evaluation counts an advocate's qualified referrals since the period's start on every
-- conversion; with this index the count reads index entries only, never the referral rows.
CREATE INDEX referrals_advocate_qualified ON referrals (workspace_id, advocate_id, status, qualified_at);
-- (workspace_id, advocate_id) is the head of referrals_advocate_created and of the index above:
-- one index fewer to write on every new referral.
DROP INDEX referrals_advocate;
