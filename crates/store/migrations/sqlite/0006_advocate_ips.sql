-- The salted IP hash an advocate's browser was seen from (the join page): a friend clicking from
-- the same address is flagged as a shared IP (offices, households), never blocked for it alone.
ALTER TABLE advocate_visitors ADD COLUMN ip_hash TEXT NOT NULL DEFAULT '';
