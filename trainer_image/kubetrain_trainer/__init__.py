"""The in-container trainer: data, preparation, training, tuning, evaluation, artifacts.

This package runs inside the trainer pod (`python -m kubetrain_trainer`) and behind
`kubetrain run FILE.yaml` on a laptop. The contract with the operator:

Environment
    KUBETRAIN_SPEC            path of the resolved TrainingJob (JSON or YAML; the whole object or
                              only its spec), default /etc/kubetrain/spec.json
    KUBETRAIN_JOB_NAME        the TrainingJob's name
    KUBETRAIN_NAMESPACE       its namespace
    KUBETRAIN_ATTEMPT         the attempt number (1, 2, ...), default 1
    KUBETRAIN_OUTPUT_URI      the artifact root: s3://bucket/prefix (or a directory); this attempt
                              writes under <root>/<namespace>/<job>/<attempt>/ and resumes from
                              checkpoints under <root>/<namespace>/<job>/*/checkpoints/ and
                              finished tuning trials under <root>/<namespace>/<job>/tuning/
    KUBETRAIN_S3_ENDPOINT     S3 endpoint (or AWS_ENDPOINT_URL); AWS_ACCESS_KEY_ID,
                              AWS_SECRET_ACCESS_KEY, AWS_REGION: credentials of the output store
    KUBETRAIN_DATA_S3_ENDPOINT, KUBETRAIN_DATA_AWS_ACCESS_KEY_ID,
    KUBETRAIN_DATA_AWS_SECRET_ACCESS_KEY
                              the data's store, only when it differs from the output's
                              (spec.data.s3 names another Secret); else the AWS_* above are used
    RAY_ADDRESS               an existing Ray cluster (head pod) to join; a local Ray otherwise
    KUBETRAIN_TORCH_THREADS   PyTorch intra-op threads, default 1 (see models.torch_train)
    KUBETRAIN_TERMINATION_LOG where the one-paragraph failure message goes, default
                              /dev/termination-log (the pod's terminationMessagePath)

Files written under the attempt prefix: see `artifacts.files` (model/, metrics.json, spec.json,
metadata.json, plots/, report.html), `runtime.checkpoint` (checkpoints/) and `runtime.progress`
(progress.json).

Stdout carries one JSON object per line for machines — `{"kubetrain": "progress", ...}` while
it runs, then `{"kubetrain": "result", ...}` or `{"kubetrain": "error", ...}` — and nothing the
operator must parse besides those.

Exit codes (`errors.ExitCode`): 0 finished (the verdict is in metrics.json and the result
line); 2 invalid spec or unusable data (do not retry); 3 S3 denied access (do not retry);
143 stopped by SIGTERM after writing a checkpoint, or between tuning trials (retry resumes);
1 anything else (retry).

Kubernetes API rights: none. The pod needs `automountServiceAccountToken: false` only; progress
travels through S3 and stdout (see `progress` for why).
"""

from kubetrain_trainer import _moved

_moved.install()  # models saved before the stage packages name the old flat modules
