"""Builtin components. They are registered through themis-eval-core's own entry
points, exactly as a third-party package registers its components."""
