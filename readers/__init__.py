"""hwms readers package."""
