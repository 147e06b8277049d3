"""convtrack projections."""
