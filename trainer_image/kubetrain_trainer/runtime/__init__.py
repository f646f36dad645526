"""What every stage shares while an attempt runs: where files go, resumable state, progress.

`storage` is the one way to read and write the output store (S3 or a directory), `checkpoint`
the training state that a later attempt resumes from and the stop signal (SIGTERM or the stop
marker), `progress` the progress lines and progress.json the operator reads. No stage result
passes through here: these are the services the stages use.
"""
