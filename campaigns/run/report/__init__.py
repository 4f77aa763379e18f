"""Run reports: the plan review before dispatch and the results after, as HTML or JSON."""
