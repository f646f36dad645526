"""Stage 5, evaluation: score the trained model on the held-out rows and judge the objective.

Takes the `models.train.TrainResult` of stage 4 and the `preparation.spec.PreparedData` it was
fitted on, and returns a `metrics.Evaluation` (metrics per split, cross-validation, the
objective's verdict, warnings, health findings, forecasting baselines) plus the truth and
predictions the plots need. `metrics` computes the scores, `health` the
training-health findings, `baselines` the naive forecasts a forecasting model is judged against.
"""
