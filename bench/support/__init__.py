"""What several benches share; not a bench (only top-level modules of bench/ are)."""
