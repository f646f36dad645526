"""Stage 6, artifacts: write what the attempt produced and the verdict.

Takes the results of the earlier stages (the loaded and prepared data, the trained model, the
tuning result, the `evaluation.metrics.Evaluation`) and writes the model, metrics.json,
spec.json, metadata.json, plots and report.html under the attempt's prefix; returns the list of
files written. `files` writes single files, `report` draws the plots and the HTML page,
`metadata` assembles metadata.json.
"""
