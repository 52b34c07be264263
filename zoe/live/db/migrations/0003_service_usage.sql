-- The latest resource usage the master sampled of each service's container
-- (Docker backends): cpu_usage in cores (a rate between two readings),
-- memory_usage in bytes, usage_time the instant of the reading. NULL until a
-- sample came, and with the simulated backend.

ALTER TABLE services
    ADD COLUMN cpu_usage double precision CHECK (cpu_usage >= 0),
    ADD COLUMN memory_usage bigint CHECK (memory_usage >= 0),
    ADD COLUMN usage_time timestamptz;
