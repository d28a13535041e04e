-- The app's login roles (see core/dbroles.py) get their rights only through
-- the group roles. The maintenance group runs the rollup refreshes in
-- reporting and will run the monitoring jobs; the read group will read
-- monitoring views. Both need USAGE on the schemas to reach those objects.
GRANT USAGE ON SCHEMA reporting, monitoring TO pumpdash_maint;
GRANT USAGE ON SCHEMA monitoring TO pumpdash_read;
