"""convtrack domain."""
