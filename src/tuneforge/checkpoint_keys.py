"""Where tuneforge keeps its own data inside a Lightning checkpoint.

`checkpoint["tuneforge"]` holds `{"config": <resolved run config>, "version": <tuneforge version>}`.
Its own module so that readers of checkpoints need not import Lightning.
"""

CHECKPOINT_KEY = "tuneforge"
