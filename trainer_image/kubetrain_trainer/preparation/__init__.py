"""Stage 2, preparation: clean, split and encode the rows into arrays a model can fit.

Takes the `data.load.LoadedData` of stage 1 and a `spec.PrepSpec`, and returns a
`spec.PreparedData`: the train/validation/test `Arrays` (or cross-validation `Fold`s), the
fitted `Preprocessor` that is saved with the model, the rows dropped by reason and the quality
findings. `stage.prepare` is the entry point; `tabular` and `series` are its two paths
(rows, and a time series cut into windows); `preprocessors` holds the fitted transforms.
"""
