"""Wing 1 (the bottom): the sections of params.yaml that depend on nothing installed, as typed
dataclasses with their ranges and ConfigError (sections), and every path of a project (paths).

Imports nothing of the project, and no torch: every other wing may import it."""
