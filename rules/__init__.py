"""hwms rules package."""
