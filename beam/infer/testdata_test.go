package infer

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sharedDir locates the project's reference data: $GOFORMER_TESTDATA, else
// shared/ beside the checkout (../../shared from this module's root, which
// is where the core's tests find it too). The core's internal/testdata
// package is not importable from this module.
func sharedDir() string {
	if d := os.Getenv("GOFORMER_TESTDATA"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(b), "module github.com/goformer/goformer/beam\n") {
			return filepath.Join(dir, "..", "..", "shared")
		}
		up := filepath.Dir(dir)
		if up == dir {
			return ""
		}
		dir = up
	}
}

// testPath returns a path inside the reference data, skipping the test
// when it is missing (failing it under CI=true, where the data must be).
func testPath(t testing.TB, elem ...string) string {
	t.Helper()
	p := filepath.Join(append([]string{sharedDir()}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		msg := "reference data missing: " + p + " (set GOFORMER_TESTDATA to the shared/ folder)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// fixtureModel returns the model folder of a fixture.
func fixtureModel(t testing.TB, name string) string {
	return testPath(t, "fixtures", name, "model")
}
