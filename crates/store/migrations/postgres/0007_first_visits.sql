-- A visitor's first click names them: their visitor id is that click's id, found through the
-- click id index. Only a returning visitor's clicks need the visitor index, so a first visit
-- (most clicks) adds no entry to it, and the index stays small and mostly in order.
DROP INDEX clicks_visitor;
CREATE INDEX clicks_visitor ON clicks (workspace_id, visitor_id) WHERE visitor_id <> public_id;
