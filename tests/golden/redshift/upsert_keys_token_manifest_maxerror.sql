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
FROM 's3://crypto-exports/ohlcv/date=2024-01-01/ohlcv.manifest'
ACCESS_KEY_ID 'AKIAIOSFODNN7EXAMPLE'
SECRET_ACCESS_KEY '***'
SESSION_TOKEN '***'
FORMAT AS CSV
IGNOREHEADER 1
GZIP
TIMEFORMAT 'auto'
REGION 'us-east-1'
MANIFEST
MAXERROR 10;
SELECT COUNT(*) FROM stage;
SELECT symbol_id, period_id, time_period_start FROM stage
GROUP BY symbol_id, period_id, time_period_start
HAVING COUNT(*) > 1
LIMIT 1;
DELETE FROM stage
USING "warehouse"."candles"
WHERE "warehouse"."candles".symbol_id = stage.symbol_id
  AND "warehouse"."candles".period_id = stage.period_id
  AND "warehouse"."candles".time_period_start = stage.time_period_start
  AND "warehouse"."candles".time_period_end = stage.time_period_end
  AND ("warehouse"."candles".time_open = stage.time_open OR ("warehouse"."candles".time_open IS NULL AND stage.time_open IS NULL))
  AND ("warehouse"."candles".time_close = stage.time_close OR ("warehouse"."candles".time_close IS NULL AND stage.time_close IS NULL))
  AND ("warehouse"."candles".price_open = stage.price_open OR ("warehouse"."candles".price_open IS NULL AND stage.price_open IS NULL))
  AND ("warehouse"."candles".price_high = stage.price_high OR ("warehouse"."candles".price_high IS NULL AND stage.price_high IS NULL))
  AND ("warehouse"."candles".price_low = stage.price_low OR ("warehouse"."candles".price_low IS NULL AND stage.price_low IS NULL))
  AND ("warehouse"."candles".price_close = stage.price_close OR ("warehouse"."candles".price_close IS NULL AND stage.price_close IS NULL))
  AND ("warehouse"."candles".volume_traded = stage.volume_traded OR ("warehouse"."candles".volume_traded IS NULL AND stage.volume_traded IS NULL))
  AND ("warehouse"."candles".trades_count = stage.trades_count OR ("warehouse"."candles".trades_count IS NULL AND stage.trades_count IS NULL))
  AND "warehouse"."candles".source = stage.source;
SELECT COUNT(*) FROM stage
WHERE NOT EXISTS (
  SELECT 1 FROM "warehouse"."candles"
  WHERE "warehouse"."candles".symbol_id = stage.symbol_id
  AND "warehouse"."candles".period_id = stage.period_id
  AND "warehouse"."candles".time_period_start = stage.time_period_start);
MERGE INTO "warehouse"."candles"
USING stage AS s
ON "warehouse"."candles".symbol_id = s.symbol_id
  AND "warehouse"."candles".period_id = s.period_id
  AND "warehouse"."candles".time_period_start = s.time_period_start
WHEN MATCHED THEN UPDATE SET time_period_end = s.time_period_end, time_open = s.time_open, time_close = s.time_close, price_open = s.price_open, price_high = s.price_high, price_low = s.price_low, price_close = s.price_close, volume_traded = s.volume_traded, trades_count = s.trades_count, source = s.source, loaded_at = GETDATE()
WHEN NOT MATCHED THEN INSERT (symbol_id, period_id, time_period_start, time_period_end, time_open, time_close, price_open, price_high, price_low, price_close, volume_traded, trades_count, source, loaded_at)
VALUES (s.symbol_id, s.period_id, s.time_period_start, s.time_period_end, s.time_open, s.time_close, s.price_open, s.price_high, s.price_low, s.price_close, s.volume_traded, s.trades_count, s.source, GETDATE());
COMMIT;
