"""A tiny third-party Themis plugin used by the test suite."""
