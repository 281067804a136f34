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
SORTKEY(symbol_id, time_period_start)
