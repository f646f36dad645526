"""The `local` node: a small kubelet whose pods really run as processes on this machine."""
