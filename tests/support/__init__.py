"""Test-bed helpers: real components started by fixtures, never by hand."""
