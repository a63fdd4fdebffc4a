"""The `tuneforge` command: one module per verb, `build()`, config checks and the error printer."""
