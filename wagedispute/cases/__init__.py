"""The case core: the one state machine, SLA clocks, public numbers, grouping and evidence."""
