// Package backend runs attempts. A small Driver interface is implemented by
// each backend (local processes, mock, later containers and Kubernetes); the
// portable Backend type wraps a driver and does validation, metrics and error
// wrapping once. Every driver passes backendtest/.
package backend

import (
	"context"
	"encoding/json"

	v1 "github.com/koya-dev/koya/api/v1"
)

// HandleVersion is bumped when a driver's handle state changes shape.
const HandleVersion = 1

// Handle identifies a started attempt to its driver. It is persisted by the
// engine so that the driver can Recover the attempt after a control-plane
// restart. State is opaque to everything but the driver that made it.
type Handle struct {
	Version   int             `json:"v"`
	Driver    string          `json:"driver"`
	AttemptID string          `json:"attempt"`
	State     json.RawMessage `json:"state,omitempty"`
}

// Status is what a driver can tell about an attempt without the agent.
type Status struct {
	// Phase is Running while the task lives, Succeeded or Failed once the
	// agent finished (Exit then set), Lost when the task vanished without a
	// result (killed with the machine, deleted, never started).
	Phase v1.Phase
	Exit  *v1.Exit
}

// Capabilities says what a driver enforces; the engine refuses steps that
// need something the chosen driver cannot do.
type Capabilities struct {
	NetworkIsolation bool // network: none is honoured
	MemoryLimit      bool
	CPULimit         bool
	GPU              bool
	OOMDetection     bool
	Images           bool // runs the step's image (else the host's filesystem)
}

// Driver is the small interface a backend implements.
type Driver interface {
	Name() string
	Capabilities() Capabilities
	// Start launches the agent for the manifest's attempt. It is idempotent
	// on m.AttemptID: starting an attempt that already started returns its
	// handle and does not run it twice (the engine may retry Start after a
	// crash between Start and persisting the handle).
	Start(ctx context.Context, m *v1.TaskManifest) (Handle, error)
	// Status reports on a started attempt.
	Status(ctx context.Context, h Handle) (Status, error)
	// Stop asks the attempt to end (the agent kills the user command and
	// reports a cancelled exit); Stop of a finished attempt is not an error.
	Stop(ctx context.Context, h Handle) error
	// Recover re-attaches to an attempt after a control-plane restart. It
	// returns errs.NotFound when the attempt no longer exists.
	Recover(ctx context.Context, h Handle) error
	// Cleanup removes what the attempt left behind once its events were
	// ingested. Idempotent.
	Cleanup(ctx context.Context, h Handle) error
}
