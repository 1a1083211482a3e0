-- The footprint an AGV registered, so its last known space stays blocked across restarts
-- while it is offline.
ALTER TABLE agvs ADD COLUMN fp_front DOUBLE PRECISION;
ALTER TABLE agvs ADD COLUMN fp_rear DOUBLE PRECISION;
ALTER TABLE agvs ADD COLUMN fp_left DOUBLE PRECISION;
ALTER TABLE agvs ADD COLUMN fp_right DOUBLE PRECISION;
