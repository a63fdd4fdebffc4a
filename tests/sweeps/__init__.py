"""Overrides that make a sweep's trial a tiny run: one batch of each split, and no logger,
checkpoints or progress bar."""

TINY = [
    "debug=limit",
    "trainer.limit_train_batches=1",
    "trainer.limit_val_batches=1",
    "model.width=4",
    "model.depth=1",
    "logger=none",
    "callbacks=none",
    "trainer.enable_model_summary=false",
    "+trainer.enable_progress_bar=false",
]
