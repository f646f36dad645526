"""Stage 2, preparation: clean, split and encode the rows into arrays a model can fit.

Takes the `data.load.LoadedData` of stage 1 and a `spec.PrepSpec`, and returns a
`spec.PreparedData`: the train/validation/test `Arrays` (or cross-validation `Fold`s), the
fitted `Preprocessor` that is saved with the model, the rows dropped by reason and the quality
findings. `stage.prepare` is the entry point; `tabular` and `series` are its two paths
(rows, and a time series cut into windows); `preprocessors` holds the fitted transforms.

Rules that keep the held-out numbers honest:
- nothing is dropped silently: every removed row is counted by reason (`rows_dropped`), and
  duplicate rows are kept unless `drop_duplicates` (then removed before splitting, so the same
  row cannot land in train and test) but always counted as a data-quality finding (`quality`);
- imputation, scaling, encoding, vocabularies and target scaling are fitted on the training rows
  of each split or fold, never on validation or test rows;
- time series are split chronologically (test = the most recent stretch); windows use earlier
  values as inputs, which is what a forecaster sees in production, but their targets lie inside
  their own split.
"""
