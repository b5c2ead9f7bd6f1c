package kubernetes_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/koya-dev/koya/internal/backend"
	"github.com/koya-dev/koya/internal/backend/backendtest"
	"github.com/koya-dev/koya/internal/backend/kubernetes"
	"github.com/koya-dev/koya/internal/backend/kubernetes/kubetest"
)

// TestConformance runs the backend suite against a real API server
// (scripts/kube.sh) with kwok playing the pods: no container runs, so the
// suite's scripted commands become kwok annotations and outcomes are read
// from the driver's Status (Agentless); the process-level subtests are
// covered by the local and container backends.
func TestConformance(t *testing.T) {
	client := kubetest.Client(t)
	ns := kubetest.Namespace(t)
	instance := "kt-" + randomHex(4)
	backendtest.Run(t, backendtest.Harness{
		New: func(t *testing.T, env backendtest.Env) backend.Driver {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			d, err := kubernetes.New(ctx, kubernetes.Options{
				Client: client, AgentImage: "koya/agent:kwok", Instance: instance,
				NamespaceFor: func(string) string { return ns },
				Resolver:     kubernetes.NoResolve{}, DefaultImage: "koya/task:kwok",
				ServerURL: env.Server.URL, Simulate: true, TimeoutGrace: -1,
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(d.Close)
			return d
		},
		Processes:       false,
		Agentless:       true,
		SurvivesRestart: true,
		Wait:            30 * time.Second,
	})
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
