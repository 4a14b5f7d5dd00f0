"""hwms central ledger package (not built yet)."""
