package checkpoint

import (
	"archive/zip"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestScanPickleFrame is the regression test of a fuzz crasher: a FRAME
// opcode whose 8-byte length ("22222222" = 0x3232323232323232) is far
// beyond the data made the pickle decoder allocate the whole frame up
// front and die of out-of-memory. scanPickle must refuse it, and so must
// OpenPyTorch.
func TestScanPickleFrame(t *testing.T) {
	bad := []byte("\x95222222\x00\x00d22222\x89.")
	if _, err := scanPickle(bad); err == nil {
		t.Fatal("scanPickle accepted a frame longer than the data")
	}
	// A frame that fits, with its opcodes after it, is fine.
	good := []byte("\x80\x04\x95\x03\x00\x00\x00\x00\x00\x00\x00}\x94.")
	if n, err := scanPickle(good); err != nil || n != len(good) {
		t.Fatalf("scanPickle refused a valid frame (%d of %d bytes): %v", n, len(good), err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("archive/data.pkl")
	w.Write(bad)
	zw.Close()
	p := filepath.Join(t.TempDir(), "frame.bin")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := OpenPyTorch(p); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("OpenPyTorch: want ErrCorrupt, got %v", err)
	}
}
