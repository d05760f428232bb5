"""The one-line integrations: Prometheus, OpenTelemetry, and on_close with several callbacks."""
