-- VDA 5050 vehicles (docs/vda5050.md): a vehicle's manufacturer and serial number map to the AGV
-- id it has in the fleet, stable across restarts; given the first free id at or above
-- --vda5050-first-id when it first connects, or set by an operator (PUT /api/v1/vda5050/vehicles).
-- `version`: the VDA 5050 version it last spoke (`2.0`, `2.1`, `3.0`); `updated_at` UTC ms.
CREATE TABLE vda5050_vehicles (
    manufacturer TEXT NOT NULL,
    serial_number TEXT NOT NULL,
    agv_id BIGINT NOT NULL UNIQUE,
    version TEXT NOT NULL DEFAULT '',
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (manufacturer, serial_number)
);
