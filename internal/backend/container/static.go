package container

import (
	"debug/elf"
	"fmt"
)

// CheckStatic checks that path is a statically linked ELF executable: one
// that runs in any image, whatever libc (or none) it has.
func CheckStatic(path string) error {
	if path == "" {
		return fmt.Errorf("binary: none given")
	}
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("binary %s: %v", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("binary %s is dynamically linked; build it with CGO_ENABLED=0", path)
		}
	}
	return nil
}
