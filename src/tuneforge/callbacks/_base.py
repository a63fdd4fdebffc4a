"""The base of tuneforge's callbacks: per-batch hooks a callback does not define cost nothing."""

import lightning as L

# The hooks the Trainer calls on every callback at every batch.
PER_BATCH_HOOKS = (
    "on_train_batch_start",
    "on_before_backward",
    "on_after_backward",
    "on_before_optimizer_step",
    "on_before_zero_grad",
    "on_train_batch_end",
    "on_validation_batch_start",
    "on_validation_batch_end",
    "on_test_batch_start",
    "on_test_batch_end",
    "on_predict_batch_start",
    "on_predict_batch_end",
)


class Callback(L.Callback):
    """A Lightning Callback that the Trainer passes by at the per-batch hooks it does not define.

    Lightning calls each hook on every callback, and each call costs a few microseconds of
    bookkeeping (a profiler context named after the callback's state key) even where the hook is
    the base class's no-op. With the dozen callbacks of a default run that is about a quarter of
    a millisecond every training step: several percent of a small model's step. The Trainer
    skips a hook that is not callable, so the per-batch hooks a subclass leaves undefined are set
    to None on the subclass.
    """

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        for hook in PER_BATCH_HOOKS:
            if getattr(cls, hook) is getattr(L.Callback, hook):
                setattr(cls, hook, None)
