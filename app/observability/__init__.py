"""Operations: request ids, log lines, Prometheus metrics (CONTRACT §7)."""
