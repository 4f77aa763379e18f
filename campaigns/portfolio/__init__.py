"""The daily portfolio: its CSV format, validation, loading and synthetic generation."""
