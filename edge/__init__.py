"""hwms edge package."""
