package infer

import (
	"testing"

	"github.com/goformer/goformer/beam/internal/testref"
)

// testPath returns a path inside the reference data (skipped when
// missing, failed under CI=true).
func testPath(t testing.TB, elem ...string) string {
	t.Helper()
	return testref.Path(t, elem...)
}

// fixtureModel returns the model folder of a fixture.
func fixtureModel(t testing.TB, name string) string {
	return testPath(t, "fixtures", name, "model")
}
