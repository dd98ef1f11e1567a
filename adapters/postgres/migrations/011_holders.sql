-- Whose documents a grant covers, each named to the citizen who
-- consented. Grants from before covered their citizen only, as far as the
-- citizen was told.
ALTER TABLE grants ADD COLUMN holders text[] NOT NULL DEFAULT '{}';
UPDATE grants SET holders = ARRAY[citizen];

-- The minors a challenge's citizen represented when the code was sent, and
-- a verified challenge: the code was right, whose documents is asked next.
ALTER TABLE otp_challenges ADD COLUMN represents text[] NOT NULL DEFAULT '{}';
ALTER TABLE otp_challenges DROP CONSTRAINT otp_challenges_status_check;
ALTER TABLE otp_challenges ADD CONSTRAINT otp_challenges_status_check
    CHECK (status IN ('pending', 'verified', 'used', 'dead'));
