//go:build !linux

package container

import "errors"

func containerOOMKills(pid int) (int64, error) { return 0, errors.New("not Linux") }
func canReadOOM() bool                         { return false }

// BlockMetadata is Linux only: elsewhere the engine runs in a VM whose
// firewall is the operator's.
func BlockMetadata() error { return errors.New("blocking the metadata addresses needs Linux") }
