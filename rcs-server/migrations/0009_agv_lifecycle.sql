-- An AGV's life in the fleet (UTC ms). `decommissioned_at`: taken out of service by an operator
-- (NULL: in service); its rows elsewhere (sessions, telemetry, tasks, events) are kept, and it
-- comes back into service when it registers again or a key is enrolled for it.
-- `space_cleared_at`: an operator cleared the space it blocked while offline: after a restart
-- its last stored pose blocks nothing unless it reported after that.
ALTER TABLE agvs ADD COLUMN decommissioned_at BIGINT;
ALTER TABLE agvs ADD COLUMN space_cleared_at BIGINT;
