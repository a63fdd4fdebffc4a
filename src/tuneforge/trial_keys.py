"""The overrides that a sweep's sweeper gives each trial's job: the trial's number in its study,
and the study's database. The sweeper sets them, a trial's run asks for them, and a sweep folder
read back leaves them out of what sets its trials apart; its own module, so that each of those
layers names them from one place."""

TRIAL = "hparams_search.trial"
STORAGE = "hparams_search.storage"
TRIAL_KEYS = (TRIAL, STORAGE)
