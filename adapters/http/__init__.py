"""convtrack adapters/http."""
