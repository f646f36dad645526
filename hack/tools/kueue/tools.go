//go:build tools

// Package tools pins Kueue's manager binary; hack/build-kueue.sh builds it with
// `go build sigs.k8s.io/kueue/cmd/kueue` inside this module.
package tools

import _ "sigs.k8s.io/kueue/cmd/kueue"
