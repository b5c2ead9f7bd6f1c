package v1

import (
	"fmt"
	"strconv"
	"strings"
)

// MemoryBytes reads a Kubernetes-style quantity ("512Mi", "4Gi", "1G",
// "1500000") as bytes; "" is 0.
func MemoryBytes(s string) (int64, error) {
	orig := s
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if !quantity.MatchString(s) {
		return 0, fmt.Errorf("%q is not a memory size (like 512Mi or 4Gi)", orig)
	}
	mult := float64(1)
	for _, u := range []struct {
		suffix string
		mult   float64
	}{
		{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40}, {"Pi", 1 << 50}, {"Ei", 1 << 60},
		{"k", 1e3}, {"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}, {"P", 1e15}, {"E", 1e18},
	} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a memory size (like 512Mi or 4Gi)", orig)
	}
	return int64(n * mult), nil
}
