"""Pure builders: a TrainingJob and the operator's configuration in, Kubernetes objects out.

No I/O here. Every child is named deterministically from the job and the attempt, labelled
under `kubetrain.io/`, and owned by the TrainingJob so that deleting the job deletes it.
"""
