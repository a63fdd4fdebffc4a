"""The run engine under the verbs: checkpoints, resume, the run lock, trust, devices, the
tuner, plots, provenance and export formats. It imports every layer below it, never `cli/`."""
