package sandbox

import (
	"fmt"
	"os/exec"
	"strings"
)

// MetadataAddrs are the cloud instance-metadata endpoints (AWS, GCP, Azure
// and others answer on the first; AWS's IPv6 one is the second): whoever
// reaches them gets the machine's cloud credentials.
var MetadataAddrs = []string{"169.254.169.254", "fd00:ec2::254"}

// BlockMetadata makes the kernel refuse connections from the task uids
// lo..hi to MetadataAddrs: an iptables/ip6tables rule matching the socket
// owner, inserted first in OUTPUT unless it is there. It needs root and the
// iptables commands (Debian: iptables); without them it says why, and the
// caller reports metadata blocking as not enforced.
func BlockMetadata(lo, hi uint32) error {
	owner := fmt.Sprintf("%d-%d", lo, hi)
	for _, addr := range MetadataAddrs {
		bin := "iptables"
		if strings.Contains(addr, ":") {
			bin = "ip6tables"
		}
		path, err := exec.LookPath(bin)
		if err != nil {
			return fmt.Errorf("blocking %s: %s not found (install iptables)", addr, bin)
		}
		rule := []string{"OUTPUT", "-m", "owner", "--uid-owner", owner, "-d", addr, "-j", "REJECT"}
		if exec.Command(path, append([]string{"-w", "-C"}, rule...)...).Run() == nil {
			continue // already there
		}
		if out, err := exec.Command(path, append([]string{"-w", "-I"}, rule...)...).CombinedOutput(); err != nil {
			return fmt.Errorf("blocking %s: %s: %v: %s", addr, bin, err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}
