-- A grant's lifecycle is kept in the history as rows of its own, as the
-- uses of documents are: each consent, merge, replacement, revocation and
-- expiry, with the grant as it left it (what its receipt says), and a
-- citizen's erasure. A grant keeps the digest of the terms' text it was
-- consented under.
ALTER TABLE grants ADD COLUMN terms_digest text NOT NULL DEFAULT '';
ALTER TABLE access_events ADD COLUMN by_whom text NOT NULL DEFAULT '';
ALTER TABLE access_events ADD COLUMN detail jsonb;
ALTER TABLE access_events DROP CONSTRAINT access_events_kind_check;
ALTER TABLE access_events ADD CONSTRAINT access_events_kind_check
    CHECK (kind IN ('fetch', 'delivery', 'view', 'consent', 'merge', 'replace', 'revocation', 'expiry', 'erasure'));
CREATE UNIQUE INDEX access_events_receipt_idx ON access_events ((detail->>'receipt')) WHERE detail IS NOT NULL;
CREATE INDEX access_events_grant_idx ON access_events (grant_id, id) WHERE detail IS NOT NULL;

-- The grants given before: their consent, and their end if they ended.
INSERT INTO access_events (at, citizen, holder, partner_id, grant_id, document_type, kind, by_whom, detail)
SELECT e.at, g.citizen, g.citizen, g.partner_id, g.id, '', e.kind, e.by_whom,
       jsonb_build_object('receipt', replace(gen_random_uuid()::text, '-', ''), 'documents', to_jsonb(g.documents),
           'holders', to_jsonb(CASE WHEN cardinality(g.holders) = 0 THEN ARRAY[g.citizen] ELSE g.holders END),
           'purpose', g.purpose, 'created_at', g.created_at, 'expires_at', g.expires_at,
           'terms_version', g.terms_version, 'status', e.status)
FROM grants g
CROSS JOIN LATERAL (
    SELECT g.created_at AS at, 'consent' AS kind, '' AS by_whom, 'active' AS status, 1 AS n
    UNION ALL
    SELECT g.status_changed_at, CASE g.status WHEN 'expired' THEN 'expiry' ELSE 'revocation' END, g.status_by, g.status, 2
    WHERE g.status <> 'active' AND g.status_changed_at IS NOT NULL
) e
ORDER BY e.at, g.id, e.n;
