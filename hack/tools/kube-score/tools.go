//go:build tools

// Package tools pins kube-score, the manifest linter the chart tests run on the rendered
// chart. (kube-linter would do the same job, but its module is not served by the proxy.)
package tools

import _ "github.com/zegl/kube-score/cmd/kube-score"
