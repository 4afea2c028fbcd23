"""Pure booking domain: plans, slots, absences, replacement routing and rules (no I/O)."""
