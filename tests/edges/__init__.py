"""The edges of a connection's life on real servers: what the server logs, raw and guarded."""
