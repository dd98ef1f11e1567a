-- Which terms version a grant's citizen was last told of: the upkeep tells
-- each citizen once per version while they have grants under older terms.
ALTER TABLE grants ADD COLUMN terms_told text NOT NULL DEFAULT '';
