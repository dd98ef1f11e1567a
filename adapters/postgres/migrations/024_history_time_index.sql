-- The register's monthly counts read the history by time. Rows arrive in
-- time order, so a block-range index answers a month's range at almost no
-- cost per insert (a B-tree on the time would add one per history row).
CREATE INDEX access_events_at_brin ON access_events USING brin (at);
