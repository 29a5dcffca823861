// Package testdata locates the shared reference data (fixtures, media,
// vocabularies, configs) that the tests of every package use.
//
// The data lives outside the module so that `go get` stays small. It is found
// in the directory named by $GOFORMER_TESTDATA, else at ../shared relative to
// the module root. When it is absent, tests skip with a clear message, except
// under CI=true, where they fail.
package testdata

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var (
	rootOnce sync.Once
	root     string
	rootErr  string
)

// moduleRoot returns the directory holding go.mod, found from this source file.
func moduleRoot() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return ""
	}
	// file = <root>/internal/testdata/testdata.go
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}

// Root returns the test-data directory and whether it exists.
func Root() (string, bool) {
	rootOnce.Do(func() {
		if env := os.Getenv("GOFORMER_TESTDATA"); env != "" {
			root = env
		} else {
			root = filepath.Join(moduleRoot(), "..", "shared")
		}
		root = filepath.Clean(root)
		if st, err := os.Stat(filepath.Join(root, "fixtures")); err != nil || !st.IsDir() {
			rootErr = "not found at " + root + " (set GOFORMER_TESTDATA to a directory holding fixtures/, media/, vocab/, configs/)"
		}
	})
	return root, rootErr == ""
}

// Dir returns the test-data root. When it is missing the test is skipped,
// or failed when CI=true.
func Dir(tb testing.TB) string {
	tb.Helper()
	r, ok := Root()
	if !ok {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("CI=true but the test data is missing: %s", rootErr)
		}
		tb.Skipf("skipping: missing test data: %s", rootErr)
	}
	return r
}

// Path joins elements onto the test-data root, skipping or failing like Dir
// when the root, or the named file, is missing.
func Path(tb testing.TB, elem ...string) string {
	tb.Helper()
	p := filepath.Join(append([]string{Dir(tb)}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("CI=true but test data %s is missing: %v", p, err)
		}
		tb.Skipf("skipping: test data %s is missing (GOFORMER_TESTDATA layout: fixtures/, media/, vocab/, configs/)", p)
	}
	return p
}

// Fixture returns fixtures/<name>.
func Fixture(tb testing.TB, name string) string {
	tb.Helper()
	return Path(tb, "fixtures", name)
}

// Missing reports that part of the test data a test needs is absent (a
// case a fixture set does not have, a file not generated): the test is
// skipped, or failed when CI=true, where the shared data is complete.
func Missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		tb.Fatalf("CI=true but test data is missing: %s", msg)
	}
	tb.Skipf("skipping: missing test data: %s", msg)
}

// WAV16 encodes mono samples in [-1, 1] as a 16-bit PCM WAV file at rate Hz.
func WAV16(pcm []float32, rate int) []byte {
	data := make([]byte, 2*len(pcm))
	for i, v := range pcm {
		binary.LittleEndian.PutUint16(data[2*i:], uint16(int16(max(-1, min(1, v))*32767)))
	}
	return append(WAVHeader(rate, 16, 1, uint32(len(data))), data...)
}

// WAVHeader returns the 44-byte header of a PCM WAV file of rate Hz, bits
// per sample and channels, declaring dataBytes of samples.
func WAVHeader(rate, bits, channels int, dataBytes uint32) []byte {
	le := binary.LittleEndian
	h := []byte("RIFF\x00\x00\x00\x00WAVEfmt ")
	le.PutUint32(h[4:], 36+dataBytes)
	h = le.AppendUint32(h, 16)
	h = le.AppendUint16(h, 1) // PCM
	h = le.AppendUint16(h, uint16(channels))
	h = le.AppendUint32(h, uint32(rate))
	h = le.AppendUint32(h, uint32(rate*channels*bits/8))
	h = le.AppendUint16(h, uint16(channels*bits/8))
	h = le.AppendUint16(h, uint16(bits))
	h = append(h, "data"...)
	return le.AppendUint32(h, dataBytes)
}

// FuzzSeedFiles adds the named files under the test-data root as seeds of
// f, leaving out those that are absent or larger than max bytes (fuzz
// targets must run without the shared data: they then start from fewer
// seeds). Each elems lists the path elements of one file.
func FuzzSeedFiles(f *testing.F, max int, elems ...[]string) {
	root, ok := Root()
	if !ok {
		return
	}
	for _, e := range elems {
		b, err := os.ReadFile(filepath.Join(append([]string{root}, e...)...))
		if err == nil && len(b) <= max {
			f.Add(b)
		}
	}
}
