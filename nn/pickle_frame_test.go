package nn

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
// front and die of out-of-memory. ScanPickle must refuse it, and so must
// LoadPyTorch.
func TestScanPickleFrame(t *testing.T) {
	bad := []byte("\x95222222\x00\x00d22222\x89.")
	if err := ScanPickle(bad); err == nil {
		t.Fatal("ScanPickle accepted a frame longer than the data")
	}
	// A frame that fits, with its opcodes after it, is fine.
	good := []byte("\x80\x04\x95\x03\x00\x00\x00\x00\x00\x00\x00}\x94.")
	if err := ScanPickle(good); err != nil {
		t.Fatalf("ScanPickle refused a valid frame: %v", err)
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
	if _, _, err := LoadPyTorch(p); !errors.Is(err, ErrCorruptCheckpoint) {
		t.Fatalf("LoadPyTorch: want ErrCorruptCheckpoint, got %v", err)
	}
}
