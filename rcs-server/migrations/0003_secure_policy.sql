-- Per-AGV secure-mode policy override ('required', 'allowed', 'off'; NULL: the server's).
ALTER TABLE agvs ADD COLUMN secure_policy TEXT;
