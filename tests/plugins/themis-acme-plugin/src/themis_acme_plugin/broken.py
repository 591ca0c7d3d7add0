"""A plugin module that fails to import, as a broken third-party release would."""

raise RuntimeError("acme/broken is deliberately broken")
