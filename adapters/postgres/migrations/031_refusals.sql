-- kelisim_refuse fails the statement that calls it, with an SQLSTATE the
-- store knows: a statement sent in one round trip with the COMMIT after
-- it (see lazyTx.commitWith) refuses what must not commit this way, and
-- PostgreSQL then rolls the transaction back instead.
CREATE OR REPLACE FUNCTION kelisim_refuse(code text, message text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION USING ERRCODE = code, MESSAGE = message;
END
$$;
