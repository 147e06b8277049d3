"""convtrack adapters/nats."""
