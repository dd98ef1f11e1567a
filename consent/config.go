package consent

import (
	"fmt"
	"slices"
	"strings"
)

// required returns an error naming the missing dependencies: the names
// whose value is true. Every constructor of the domain checks its
// dependencies with it, so a wiring mistake fails at start, not on the
// first request that needs the missing part.
func required(missing map[string]bool) error {
	var names []string
	for name, m := range missing {
		if m {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	slices.Sort(names)
	return fmt.Errorf("missing %s", strings.Join(names, ", "))
}
