"""Local models and AI deployments (later issues)."""
