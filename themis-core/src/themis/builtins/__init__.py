"""Builtin components. They are registered through themis-core's own entry
points, exactly as a third-party package registers its components."""
