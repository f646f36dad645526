"""Stage 1, data: read the declared source into frames.

Takes a `load.DataSource` (the spec's `data` section, from `config`) and returns a
`load.LoadedData`: the train/validation/test frames as read, their content hash, the bytes and
files read. `columns` types the columns (numeric, categorical, text, datetime) for preparation;
`quality` turns what preparation removed or noticed into plain sentences.
"""
