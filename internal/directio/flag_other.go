//go:build !linux

package directio

import (
	"errors"
	"os"
)

// setDirect: direct I/O through O_DIRECT is Linux's; elsewhere durable
// objects go through the page cache.
func setDirect(*os.File, bool) error { return errors.ErrUnsupported }
