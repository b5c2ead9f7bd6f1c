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

// FormatBytes writes n for people: "600 bytes", "1.5 KiB", "4.0 GiB".
func FormatBytes(n int64) string {
	for _, u := range []struct {
		unit string
		size float64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if float64(n) >= u.size {
			return fmt.Sprintf("%.1f %s", float64(n)/u.size, u.unit)
		}
	}
	return fmt.Sprintf("%d bytes", n)
}
