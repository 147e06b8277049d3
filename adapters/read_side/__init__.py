"""The read-side runtime: the relay, the projection workers and the catch-up that drive the read
models from the event store, over NATS (adapters/nats) and PostgreSQL (adapters/postgres)."""
