"""The execution engine: plan, per-case pipelines, policy, and the event writer."""
