"""convtrack adapters."""
