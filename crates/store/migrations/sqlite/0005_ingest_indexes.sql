-- Conversion ingest looks up a friend's referral and past conversions by customer, and counts
-- an advocate's recent referrals: without these, each lookup scanned its table and ingest
-- slowed as the tables grew.
CREATE INDEX referrals_friend ON referrals (workspace_id, friend_customer_id);
CREATE INDEX conversions_customer ON conversions (workspace_id, customer_id);
CREATE INDEX referrals_advocate_created ON referrals (workspace_id, advocate_id, created_at);
