-- How a citizen proved who they are: an SMS code, or a digital signature.
-- A grant keeps how its latest consent was given, which its receipts say.
ALTER TABLE otp_challenges ADD COLUMN method text NOT NULL DEFAULT 'sms-otp';
ALTER TABLE grants ADD COLUMN method text NOT NULL DEFAULT 'sms-otp';
