"""How much each searched parameter mattered to an Optuna sweep's objective, or the sentence
that says why that cannot be told."""

from tuneforge.reporting.sweep_folder import Sweep

EVALUATOR = "fANOVA"


def param_importances(sweep: Sweep) -> dict[str, float] | str:
    """Each parameter's share of the objective's variance over the completed trials (Optuna's
    fANOVA, seeded so that a report drawn twice is the same), most important first; or a sentence
    for the report where there is nothing to compare: the study is elsewhere, fewer than two
    trials completed, fewer than two parameters took more than one value, or every trial reached
    the same value."""
    import optuna
    from optuna.importance import FanovaImportanceEvaluator
    from optuna.search_space import intersection_search_space
    from optuna.trial import TrialState

    study = sweep.study
    if study is None:
        return (
            "Parameter importances need the Optuna study, which is not in the sweep folder "
            "(hparams_search.storage names a database elsewhere)."
        )
    completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(completed) < 2:
        return (
            f"Parameter importances need at least 2 completed trials; {len(completed)} completed."
        )
    searched = intersection_search_space(completed)
    varied = [key for key in searched if len({repr(t.params[key]) for t in completed}) > 1]
    if len(varied) < 2:
        what = f"only {varied[0]}" if varied else "no parameter"
        return (
            f"Parameter importances compare parameters, and {what} took more than one value in "
            "the completed trials."
        )
    objectives = {trial.value for trial in completed}
    if len(objectives) == 1:
        return (
            f"Every completed trial reached {sweep.metric}={next(iter(objectives)):.4g}: no "
            "parameter made a difference, so there are no parameter importances."
        )
    importances = optuna.importance.get_param_importances(
        study, evaluator=FanovaImportanceEvaluator(seed=0), params=varied
    )
    return {key: float(value) for key, value in importances.items()}
