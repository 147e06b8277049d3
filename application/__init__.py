"""convtrack application."""
