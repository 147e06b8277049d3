"""convtrack adapters/postgres."""
