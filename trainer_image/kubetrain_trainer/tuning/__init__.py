"""Stage 3, tuning and automatic selection: choose the hyperparameters on Ray Tune.

Takes a `space.TuneSpec` (the spec's `tuning`, or the plan `auto` makes for `model: {auto}`)
and a `trial.TrialContext` (the model and the prepared arrays of stage 2), and returns a
`results.TuningResult`: the best configuration, its value and epoch, every trial's row, and the
best trial's model when the final model is the best trial. `search.run_tuning` composes the
parts: `plan` (which configurations are left after earlier attempts), `trial` (one trial),
`callbacks` (counting, progress and recording while Tune runs), `results` (choosing the best),
`trial_log` (the finished trials kept across attempts).
"""
