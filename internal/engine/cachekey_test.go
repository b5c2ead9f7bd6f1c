package engine

import (
	"testing"

	v1 "github.com/koya-dev/koya/api/v1"
)

func TestCacheKeyCountsSecretNames(t *testing.T) {
	base := v1.TaskManifest{Command: []string{"train"}, Secrets: []string{"A", "B"}}
	same := v1.TaskManifest{Command: []string{"train"}, Secrets: []string{"B", "A"}}
	other := v1.TaskManifest{Command: []string{"train"}, Secrets: []string{"A"}}
	none := v1.TaskManifest{Command: []string{"train"}}
	if cacheKey(base) != cacheKey(same) {
		t.Error("the order of secrets changed the key")
	}
	if cacheKey(base) == cacheKey(other) || cacheKey(other) == cacheKey(none) {
		t.Error("different secrets gave the same key")
	}
}
