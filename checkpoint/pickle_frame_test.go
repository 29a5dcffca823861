package checkpoint

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
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

// TestScanPickleLongIntegers: the decoder converts LONG4 and the decimal
// INT/LONG text in quadratic time, so a few kilobytes of digits would take
// seconds and a data.pkl-sized one forever; the scan refuses integers
// longer than maxPickleInt and accepts the ones checkpoints hold.
func TestScanPickleLongIntegers(t *testing.T) {
	long4 := func(n int) []byte {
		b := []byte{0x80, 2, 0x8b}
		b = binary.LittleEndian.AppendUint32(b, uint32(n))
		return append(append(b, bytes.Repeat([]byte{7}, n)...), '.')
	}
	text := func(op byte, n int) []byte {
		return append(append([]byte{op}, bytes.Repeat([]byte{'9'}, n)...), '\n', '.')
	}
	for _, c := range []struct {
		name string
		pkl  []byte
		ok   bool
	}{
		{"LONG4 small", long4(10), true},
		{"LONG4 huge", long4(50000), false},
		{"INT text", text('I', 20), true},
		{"INT text huge", text('I', 50000), false},
		{"LONG text huge", text('L', 50000), false},
	} {
		_, err := scanPickle(c.pkl)
		if (err == nil) != c.ok {
			t.Errorf("%s: scanPickle error %v, want ok=%v", c.name, err, c.ok)
		}
	}
}
