"""convtrack adapters/runtime."""
