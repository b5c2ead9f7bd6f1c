package sqlite_test

import (
	"testing"

	"github.com/koya-dev/koya/internal/store/storetest"
)

func TestLogKeys(t *testing.T) { storetest.LogKeys(t, open(t)) }
