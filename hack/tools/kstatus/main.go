// Command kstatus reads one Kubernetes object (YAML or JSON) on stdin and prints, as JSON,
// the status that sigs.k8s.io/cli-utils' kstatus computes for it: the reader Flux,
// kpt and other GitOps tools use to decide whether a resource is healthy.
//
//	kubectl get tj iris -o yaml | kstatus
//	{"status":"Current","message":"Resource is current"}
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"
)

func main() {
	raw, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail("reading stdin: %v", err)
	}
	// Through JSON into Unstructured, whose decoder keeps integers int64 as kstatus expects.
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		fail("stdin is not YAML or JSON: %v", err)
	}
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(js); err != nil {
		fail("stdin is not a Kubernetes object: %v", err)
	}
	res, err := status.Compute(obj)
	if err != nil {
		fail("kstatus: %v", err)
	}
	out, _ := json.Marshal(map[string]string{"status": string(res.Status), "message": res.Message})
	fmt.Println(string(out))
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "kstatus: "+format+"\n", args...)
	os.Exit(2)
}
