"""Overrides that make a run that sends to a tracker quick: one epoch of three steps, each one
logged, an MLP on digits, and of the callbacks only the checkpoints, learning rates and the
confusion matrix (a plot of its own)."""

QUICK = [
    "model=mlp",
    "debug=limit",
    "trainer.max_epochs=1",
    "trainer.log_every_n_steps=1",
    "trainer.enable_model_summary=false",
    "callbacks.progress_bar.refresh_rate=0",
    *(
        f"callbacks.{name}=null"
        for name in (
            "data_report",
            "model_graph",
            "training_images",
            "misclassified_images",
            "pr_curves",
            "embeddings",
        )
    ),
]
