-- The ID.me sandbox's own database (docker-compose.yml, service idme). The postgres image
-- runs this once, when its data volume is created.
CREATE DATABASE idme OWNER ehr;
