"""Browser sessions: a narrow byte-level store, the sealed ticket, and the manager."""
