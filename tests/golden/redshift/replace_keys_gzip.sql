CREATE SCHEMA IF NOT EXISTS "warehouse";
CREATE TABLE IF NOT EXISTS "warehouse"."candles" (
  symbol_id VARCHAR(64) NOT NULL,
  period_id VARCHAR(16) NOT NULL,
  time_period_start TIMESTAMPTZ NOT NULL,
  time_period_end TIMESTAMPTZ NOT NULL,
  time_open TIMESTAMPTZ,
  time_close TIMESTAMPTZ,
  price_open DECIMAL(38,18),
  price_high DECIMAL(38,18),
  price_low DECIMAL(38,18),
  price_close DECIMAL(38,18),
  volume_traded DECIMAL(38,18),
  trades_count BIGINT,
  source VARCHAR(64) NOT NULL,
  loaded_at TIMESTAMPTZ NOT NULL DEFAULT GETDATE(),
  PRIMARY KEY (symbol_id, period_id, time_period_start)
)
DISTKEY(symbol_id)
SORTKEY(symbol_id, time_period_start);
BEGIN;
CREATE TEMP TABLE stage (LIKE "warehouse"."candles" INCLUDING DEFAULTS);
COPY stage (symbol_id, period_id, time_period_start, time_period_end, time_open, time_close, price_open, price_high, price_low, price_close, volume_traded, trades_count, source)
FROM 's3://crypto-exports/ohlcv/day.csv.gz'
ACCESS_KEY_ID 'AKIAIOSFODNN7EXAMPLE'
SECRET_ACCESS_KEY '***'
FORMAT AS CSV
IGNOREHEADER 1
GZIP
TIMEFORMAT 'auto'
REGION 'us-east-1';
SELECT COUNT(*) FROM stage;
SELECT symbol_id, period_id, time_period_start FROM stage
GROUP BY symbol_id, period_id, time_period_start
HAVING COUNT(*) > 1
LIMIT 1;
CREATE TEMP TABLE stage_window AS
SELECT symbol_id, period_id, MIN(time_period_start) AS lo, MAX(time_period_start) AS hi
FROM stage GROUP BY symbol_id, period_id;
DELETE FROM "warehouse"."candles"
USING stage_window
WHERE "warehouse"."candles".symbol_id = stage_window.symbol_id
  AND "warehouse"."candles".period_id = stage_window.period_id
  AND "warehouse"."candles".time_period_start BETWEEN stage_window.lo AND stage_window.hi;
INSERT INTO "warehouse"."candles" (symbol_id, period_id, time_period_start, time_period_end, time_open, time_close, price_open, price_high, price_low, price_close, volume_traded, trades_count, source)
SELECT symbol_id, period_id, time_period_start, time_period_end, time_open, time_close, price_open, price_high, price_low, price_close, volume_traded, trades_count, source FROM stage;
COMMIT;
