package testdata

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// WriteSafetensors writes a safetensors file (8-byte header length, JSON
// header, data) into a fresh temporary directory of tb and returns its
// path. header maps tensor names to {"dtype", "shape", "data_offsets"}
// objects and may hold "__metadata__".
func WriteSafetensors(tb testing.TB, header map[string]any, data []byte) string {
	tb.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		tb.Fatal(err)
	}
	p := filepath.Join(tb.TempDir(), "model.safetensors")
	if err := os.WriteFile(p, Safetensors(string(h), data), 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

// Safetensors returns the bytes of a safetensors file: the 8-byte length of
// header, header (JSON, taken as it is), data.
func Safetensors(header string, data []byte) []byte {
	var buf bytes.Buffer
	binary.Write(&buf, binary.LittleEndian, uint64(len(header)))
	buf.WriteString(header)
	buf.Write(data)
	return buf.Bytes()
}
