"""livepilot."""
