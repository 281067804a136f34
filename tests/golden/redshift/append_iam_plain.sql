CREATE SCHEMA IF NOT EXISTS "public";
CREATE TABLE IF NOT EXISTS "public"."ohlcv" (
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
CREATE TEMP TABLE stage (LIKE "public"."ohlcv" INCLUDING DEFAULTS);
COPY stage (symbol_id, period_id, time_period_start, time_period_end, time_open, time_close, price_open, price_high, price_low, price_close, volume_traded, trades_count, source)
FROM 's3://crypto-exports/ohlcv/day.csv'
IAM_ROLE 'arn:aws:iam::123456789012:role/cryptopipe-copy'
FORMAT AS CSV
IGNOREHEADER 1
TIMEFORMAT 'auto';
SELECT COUNT(*) FROM stage;
SELECT symbol_id, period_id, time_period_start FROM stage
GROUP BY symbol_id, period_id, time_period_start
HAVING COUNT(*) > 1
LIMIT 1;
INSERT INTO "public"."ohlcv" (symbol_id, period_id, time_period_start, time_period_end, time_open, time_close, price_open, price_high, price_low, price_close, volume_traded, trades_count, source)
SELECT symbol_id, period_id, time_period_start, time_period_end, time_open, time_close, price_open, price_high, price_low, price_close, volume_traded, trades_count, source FROM stage;
COMMIT;
