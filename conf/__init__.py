"""tuneforge's configs: one folder per config group. A package so the wheel ships it."""
