package storetest

import (
	"testing"

	"github.com/koya-dev/koya/internal/store"
)

func testSecrets(t *testing.T, s store.Store) {}
