package memory_test

import (
	"testing"

	"github.com/kelisim/kelisim/adapters/memory"
	"github.com/kelisim/kelisim/adapters/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(*testing.T) storetest.Store { return memory.New() })
}
