"""hwms central package."""
