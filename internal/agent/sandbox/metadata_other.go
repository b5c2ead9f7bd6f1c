//go:build !linux

package sandbox

import "errors"

// MetadataAddrs are the cloud instance-metadata endpoints.
var MetadataAddrs = []string{"169.254.169.254", "fd00:ec2::254"}

// BlockMetadata is Linux only.
func BlockMetadata(lo, hi uint32) error {
	return errors.New("blocking the metadata addresses is only implemented on Linux")
}
