// Package testref locates the project's reference data (fixtures, media)
// for this module's tests: $GOFORMER_TESTDATA, else shared/ beside the
// checkout, where the core module's tests find it too (the core's
// internal/testdata package is not importable from a nested module).
package testref

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/jobopts"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
)

// Dir returns the reference-data folder ("" when the module root cannot
// be found).
func Dir() string {
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

// Path returns a path inside the reference data. When it is missing the
// test is skipped saying so, or failed under CI=true, where the data must
// be.
func Path(tb testing.TB, elem ...string) string {
	tb.Helper()
	p := filepath.Join(append([]string{Dir()}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("CI=true but missing test data: %s (set GOFORMER_TESTDATA to the shared/ folder)", p)
		}
		tb.Skipf("skipping: missing test data: %s (set GOFORMER_TESTDATA to the shared/ folder)", p)
	}
	return p
}

// RunPrism runs the tests of m on Beam's in-process Prism runner, with
// loopback workers (an empty file stands for the worker binary, which is
// never built), and returns their exit code: the body of a TestMain.
func RunPrism(m *testing.M) int {
	f, _ := os.CreateTemp("", "goformer-beam-worker")
	f.Close()
	defer os.Remove(f.Name())
	*jobopts.WorkerBinary = f.Name()
	return ptest.MainRetWithDefault(m, "prism")
}

// ReadLines returns the non-empty lines of the files matching glob, in the
// order of the files' sorted names, with those names.
func ReadLines(tb testing.TB, glob string) (lines []string, files []string) {
	tb.Helper()
	files, err := filepath.Glob(glob)
	if err != nil {
		tb.Fatal(err)
	}
	sort.Strings(files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if l != "" {
				lines = append(lines, l)
			}
		}
	}
	return lines, files
}
