"""The names of what a run folder and a sweep folder hold, for the code that reads them back
(its checkpoints: `tuneforge.checkpoint_format`)."""

HYDRA = ".hydra"  # config.yaml, overrides.yaml, hydra.yaml
METRICS = "metrics.json"  # written last: a run without it did not finish
TENSORBOARD = "tensorboard"
CSV_METRICS = "csv/metrics.csv"  # logger=csv's log (conf/logger/csv.yaml)
PLOTS = "plots"
CONFUSION_MATRIX_CSV = "confusion_matrix.csv"
REPORT = "report.md"
STUDY_DB = "optuna.db"  # an Optuna sweep's study, in its sweep folder
