-- Where the published ports of each service's container answer, as the backend
-- reported them once the service ran: a JSON object from "PORT/PROTO" to
-- "host:port" (e.g. {"8080/tcp": "127.0.0.1:32768"}). NULL until the master
-- recorded them, for a service without ports, and with the simulated backend.

ALTER TABLE services
    ADD COLUMN endpoints jsonb
        CHECK (endpoints IS NULL OR jsonb_typeof(endpoints) = 'object');
