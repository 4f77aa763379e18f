"""The daily run: portfolio slice → allowances → plan → dispatch → outcomes → reports."""
