"""`make bench`: measured, never asserted. Prints one table."""
