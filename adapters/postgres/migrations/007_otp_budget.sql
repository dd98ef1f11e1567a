-- What a challenge's sends count against: a keyed hash of the purpose
-- with the IIN and phone typed, so resends count like first sends.
ALTER TABLE otp_challenges ADD COLUMN budget text NOT NULL DEFAULT '';
