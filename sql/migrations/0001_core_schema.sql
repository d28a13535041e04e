-- Core schema: catalogue of stations, devices, metrics and series; the
-- monthly-partitioned measurements table; the append-only audit; staging
-- and run bookkeeping for imports.

CREATE SCHEMA IF NOT EXISTS reporting;
CREATE SCHEMA IF NOT EXISTS api;
CREATE SCHEMA IF NOT EXISTS monitoring;

COMMENT ON SCHEMA reporting IS 'Read side: rollups and series functions used by charts.';
COMMENT ON SCHEMA api IS 'Write side: the only functions the application write pool may execute.';
COMMENT ON SCHEMA monitoring IS 'Observability: pg_stat_statements snapshots, partition and rollup audits.';

-- pg_stat_statements needs superuser to create; on a managed server a DBA
-- may have to create it, so a missing privilege is a warning, not a failure.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE WARNING 'pg_stat_statements not created: %. Ask a superuser to run CREATE EXTENSION pg_stat_statements.', SQLERRM;
END
$$;

-- Group roles that the application's connections are granted into. Roles
-- are cluster-wide, so they are created only when missing.
DO $$
DECLARE
    v_role text;
BEGIN
    FOREACH v_role IN ARRAY ARRAY['pumpdash_read', 'pumpdash_write', 'pumpdash_maint'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = v_role) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', v_role);
        END IF;
    END LOOP;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE EXCEPTION 'cannot create roles pumpdash_read, pumpdash_write, pumpdash_maint: %', SQLERRM
        USING HINT = 'Grant CREATEROLE to the migrating user, or create the three NOLOGIN roles beforehand.';
END
$$;

-- PostgreSQL grants EXECUTE on new functions to PUBLIC. Functions created
-- by the migrating role from here on are executable only by the roles their
-- file grants, so the application's roles get exactly what they are given.
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

CREATE FUNCTION public.is_valid_timezone(p_timezone text)
RETURNS boolean
LANGUAGE sql
STABLE
AS $$
    SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_timezone_names WHERE name = p_timezone);
$$;
COMMENT ON FUNCTION public.is_valid_timezone(text) IS
    'True when p_timezone is an IANA zone name this server knows, such as Asia/Shanghai.';

CREATE TABLE public.stations (
    station_id  integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code        text NOT NULL UNIQUE CHECK (code ~ '^[a-z0-9][a-z0-9_.-]{0,62}$'),
    name_zh     text NOT NULL CHECK (length(name_zh) BETWEEN 1 AND 200),
    name_en     text NOT NULL CHECK (length(name_en) BETWEEN 1 AND 200),
    timezone    text NOT NULL DEFAULT 'Asia/Shanghai' CHECK (public.is_valid_timezone(timezone)),
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE public.stations IS 'Pump stations; timezone decides local days for daily buckets and naive import times.';

CREATE TABLE public.devices (
    device_id   integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    station_id  integer NOT NULL REFERENCES public.stations ON DELETE CASCADE,
    code        text NOT NULL CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
    kind        text NOT NULL CHECK (kind IN ('station', 'pump', 'meter', 'sensor', 'tank', 'valve')),
    name_zh     text NOT NULL CHECK (length(name_zh) BETWEEN 1 AND 200),
    name_en     text NOT NULL CHECK (length(name_en) BETWEEN 1 AND 200),
    UNIQUE (station_id, code),
    UNIQUE (device_id, station_id)
);
COMMENT ON TABLE public.devices IS 'Pumps, meters, sensors, tanks and valves of a station; kind station holds station-wide points.';

CREATE TABLE public.metrics (
    metric_id   smallint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code        text NOT NULL UNIQUE CHECK (code ~ '^[a-z][a-z0-9_]{0,62}$'),
    name_zh     text NOT NULL,
    name_en     text NOT NULL,
    unit        text NOT NULL,
    agg_kind    text NOT NULL CHECK (agg_kind IN ('avg', 'sum', 'last', 'max')),
    valid_min   double precision NOT NULL,
    valid_max   double precision NOT NULL,
    decimals    smallint NOT NULL DEFAULT 2 CHECK (decimals BETWEEN 0 AND 6),
    CHECK (valid_min < valid_max)
);
COMMENT ON TABLE public.metrics IS 'Metric catalogue: names, unit, how buckets aggregate it, valid range and display decimals.';

CREATE TABLE public.unit_conversions (
    from_unit   text NOT NULL,
    to_unit     text NOT NULL,
    factor      double precision NOT NULL CHECK (factor <> 0),
    offset_value double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (from_unit, to_unit)
);
COMMENT ON TABLE public.unit_conversions IS
    'Linear conversions into catalogue units: to = from * factor + offset_value. Spellings such as m3/h are aliases with factor 1.';

CREATE TABLE public.series (
    series_id   integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    station_id  integer NOT NULL,
    device_id   integer NOT NULL,
    metric_id   smallint NOT NULL REFERENCES public.metrics,
    sample_interval_s integer CHECK (sample_interval_s > 0),
    UNIQUE (device_id, metric_id),
    FOREIGN KEY (device_id, station_id) REFERENCES public.devices (device_id, station_id) ON DELETE CASCADE
);
CREATE INDEX series_station_idx ON public.series (station_id);
COMMENT ON TABLE public.series IS
    'One measured point: a metric of a device. Measurements are keyed by series_id; sample_interval_s is the nominal sampling step.';

CREATE TABLE public.quality_classes (
    quality     smallint PRIMARY KEY,
    code        text NOT NULL UNIQUE,
    name_zh     text NOT NULL,
    name_en     text NOT NULL
);
COMMENT ON TABLE public.quality_classes IS 'OPC UA quality classes: 0 good, 1 uncertain, 2 bad.';

CREATE TABLE public.measurement_sources (
    source_id   smallint PRIMARY KEY,
    code        text NOT NULL UNIQUE
);
COMMENT ON TABLE public.measurement_sources IS 'Where a reading came from: demo generator, file import, manual entry, API.';

CREATE TABLE public.reason_codes (
    code        text PRIMARY KEY,
    name_zh     text NOT NULL,
    name_en     text NOT NULL,
    sort_order  smallint NOT NULL
);
COMMENT ON TABLE public.reason_codes IS 'Why an operator changed a reading; required on every manual correction.';

-- Column order packs the fixed-width columns without padding. quality and
-- source_id are checked by CHECK constraints, not foreign keys: a foreign key
-- is a per-row lookup that cut COPY throughput about fourfold in a 1 M row
-- load. A new source or quality class needs a migration that widens the check.
CREATE TABLE public.measurements (
    series_id       integer NOT NULL,
    quality         smallint NOT NULL DEFAULT 0 CHECK (quality BETWEEN 0 AND 2),
    source_id       smallint NOT NULL CHECK (source_id BETWEEN 1 AND 4),
    ts              timestamptz NOT NULL,
    value           double precision,
    original_value  double precision,
    version         integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    substituted     boolean NOT NULL DEFAULT false,
    updated_at      timestamptz,
    updated_by      text,
    PRIMARY KEY (series_id, ts),
    CHECK (value IS NOT NULL OR quality = 2),
    CHECK (value IS NULL OR value::text NOT IN ('NaN', 'Infinity', '-Infinity'))
) PARTITION BY RANGE (ts);
COMMENT ON TABLE public.measurements IS
    'Raw readings, one row per series and timestamp, partitioned by calendar month (UTC). original_value is the first ingested value once a reading has been changed.';

CREATE TABLE public.measurements_default PARTITION OF public.measurements DEFAULT;
COMMENT ON TABLE public.measurements_default IS
    'Catch-all partition; rows here mean a month was not premade and are reported as an alarm.';

CREATE TABLE public.measurement_audit (
    audit_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    series_id       integer NOT NULL,
    ts              timestamptz NOT NULL,
    action          text NOT NULL CHECK (action IN ('insert', 'update', 'delete', 'restore')),
    old_value       double precision,
    new_value       double precision,
    old_quality     smallint,
    new_quality     smallint,
    old_version     integer,
    new_version     integer,
    reason_code     text REFERENCES public.reason_codes,
    comment         text CHECK (length(comment) <= 2000),
    source_id       smallint REFERENCES public.measurement_sources,
    changed_by      text NOT NULL,
    changed_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX measurement_audit_point_idx ON public.measurement_audit (series_id, ts, changed_at);
COMMENT ON TABLE public.measurement_audit IS
    'Append-only history of changes to readings: old and new value and quality, reason, comment, who and when.';

CREATE FUNCTION public.reject_audit_change()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    RAISE EXCEPTION 'measurement_audit is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
COMMENT ON FUNCTION public.reject_audit_change() IS 'Trigger function that keeps measurement_audit append-only.';

CREATE TRIGGER measurement_audit_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON public.measurement_audit
    FOR EACH STATEMENT EXECUTE FUNCTION public.reject_audit_change();

CREATE UNLOGGED TABLE public.measurement_staging (
    run_id          text NOT NULL,
    batch_no        integer NOT NULL,
    line_no         bigint NOT NULL,
    column_name     text NOT NULL,
    station_code    text NOT NULL,
    device_code     text NOT NULL,
    metric_code     text NOT NULL,
    unit            text,
    ts_local        timestamp,
    ts_utc          timestamptz,
    value_text      text
);
CREATE INDEX measurement_staging_batch_idx ON public.measurement_staging (run_id, batch_no);
COMMENT ON TABLE public.measurement_staging IS
    'Import staging filled by COPY: one row per reading of a file, validated and merged by public.merge_staged_measurements.';

CREATE TABLE public.import_runs (
    run_id          text PRIMARY KEY,
    profile         text,
    sources         jsonb NOT NULL DEFAULT '[]',
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    status          text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed')),
    rows_read       bigint NOT NULL DEFAULT 0,
    rows_accepted   bigint NOT NULL DEFAULT 0,
    rows_rejected   bigint NOT NULL DEFAULT 0,
    rows_inserted   bigint NOT NULL DEFAULT 0,
    rows_updated    bigint NOT NULL DEFAULT 0,
    error           text
);
COMMENT ON TABLE public.import_runs IS 'One row per import run with its counts; rows_read = rows_accepted + rows_rejected.';

CREATE TABLE public.import_rejects (
    run_id          text NOT NULL REFERENCES public.import_runs ON DELETE CASCADE,
    line_no         bigint NOT NULL,
    column_name     text NOT NULL,
    value_text      text,
    reason_code     text NOT NULL,
    detail          text
);
CREATE INDEX import_rejects_run_idx ON public.import_rejects (run_id, line_no);
COMMENT ON TABLE public.import_rejects IS 'Readings an import rejected, with file line, column and reason code.';

-- Reference data.
INSERT INTO public.quality_classes (quality, code, name_zh, name_en) VALUES
    (0, 'good', '正常', 'good'),
    (1, 'uncertain', '可疑', 'uncertain'),
    (2, 'bad', '异常', 'bad');

INSERT INTO public.measurement_sources (source_id, code) VALUES
    (1, 'demo'), (2, 'import'), (3, 'manual'), (4, 'api');

INSERT INTO public.reason_codes (code, name_zh, name_en, sort_order) VALUES
    ('sensor_fault', '传感器故障', 'sensor fault', 1),
    ('comm_loss', '通信中断', 'communication loss', 2),
    ('calibration', '校准修正', 'calibration', 3),
    ('meter_replacement', '仪表更换', 'meter replacement', 4),
    ('manual_reading', '人工抄表', 'manual reading', 5),
    ('other', '其他', 'other', 6);

-- Valid ranges reach slightly below zero because stopped pumps and empty
-- wells report small negative sensor noise (HSY exports show -0.03 m³/h and
-- -0.024 Hz at standstill); such readings are real, not faults.
INSERT INTO public.metrics (code, name_zh, name_en, unit, agg_kind, valid_min, valid_max, decimals) VALUES
    ('flow_rate',         '瞬时流量', 'flow rate',          'm³/h',   'avg', -100,   100000, 2),
    ('outlet_pressure',   '出口压力', 'outlet pressure',    'MPa',    'avg', -0.1,   10,     3),
    ('inlet_pressure',    '进口压力', 'inlet pressure',     'MPa',    'avg', -0.1,   10,     3),
    ('pressure',          '压力',     'pressure',           'MPa',    'avg', -0.1,   10,     3),
    ('head',              '扬程',     'pump head',          'm',      'avg', -10,    1000,   2),
    ('power',             '有功功率', 'active power',       'kW',     'avg', -10,    100000, 2),
    ('energy',            '电量',     'energy',             'kWh',    'sum', 0,      1000000, 2),
    ('frequency',         '频率',     'frequency',          'Hz',     'avg', -1,     100,    2),
    ('level',             '液位',     'level',              'm',      'avg', -5,     200,    3),
    ('volume',            '蓄水量',   'stored volume',      'm³',     'avg', -10,    10000000, 1),
    ('pump_status',       '运行状态', 'run status',         '',       'avg', 0,      1,      2),
    ('electricity_price', '电价',     'electricity price',  'c/kWh',  'avg', -1000,  10000,  3),
    ('attack_flag',       '攻击标记', 'attack flag',        '',       'max', -1,     1,      0);

INSERT INTO public.unit_conversions (from_unit, to_unit, factor, offset_value) VALUES
    ('m3/h', 'm³/h', 1, 0),
    ('m^3/h', 'm³/h', 1, 0),
    ('L/s', 'm³/h', 3.6, 0),
    ('l/s', 'm³/h', 3.6, 0),
    ('m3/s', 'm³/h', 3600, 0),
    ('m³/s', 'm³/h', 3600, 0),
    ('m3/min', 'm³/h', 60, 0),
    ('m3/15 min', 'm³/h', 4, 0),
    ('m³/15 min', 'm³/h', 4, 0),
    ('m3', 'm³', 1, 0),
    ('kPa', 'MPa', 0.001, 0),
    ('Pa', 'MPa', 0.000001, 0),
    ('bar', 'MPa', 0.1, 0),
    ('mH2O', 'MPa', 0.00980665, 0),
    ('W', 'kW', 0.001, 0),
    ('MW', 'kW', 1000, 0),
    ('MWh', 'kWh', 1000, 0),
    ('EUR/kWh', 'c/kWh', 100, 0),
    ('cm', 'm', 0.01, 0),
    ('mm', 'm', 0.001, 0);
