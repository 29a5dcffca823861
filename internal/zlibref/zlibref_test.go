package zlibref

import (
	"bytes"
	"compress/zlib"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// zlibCase is one entry of testdata/cases.json (made by make_cases.py with
// CPython's zlib): a literal text, or bytes generated from a seed.
type zlibCase struct {
	Text    *string  `json:"text"`
	Seed    uint64   `json:"seed"`
	N       int      `json:"n"`
	Vocab   []string `json:"vocab"`
	Lo      int      `json:"lo"`
	Hi      int      `json:"hi"`
	Len     int      `json:"len"`
	ZlibLen int      `json:"zlib_len"`
}

// input returns the case's bytes, generating them as make_cases.py does.
func (c zlibCase) input() []byte {
	if c.Text != nil {
		return []byte(*c.Text)
	}
	x := c.Seed
	next := func() uint64 {
		x = x*6364136223846793005 + 1442695040888963407
		return x >> 33
	}
	if len(c.Vocab) > 0 {
		words := make([]string, c.N)
		for i := range words {
			words[i] = c.Vocab[next()%uint64(len(c.Vocab))]
		}
		return []byte(strings.Join(words, " "))
	}
	b := make([]byte, c.N)
	for i := range b {
		b[i] = byte(uint64(c.Lo) + next()%uint64(c.Hi-c.Lo+1))
	}
	return b
}

// TestCompressedLenMatchesReferenceZlib checks CompressedLen against the
// lengths CPython's zlib.compress produced: short and empty inputs (static
// blocks), repetitive text (long matches, lazy evaluation), text past the
// 16383-symbol block split, incompressible bytes (stored blocks) and the
// longest exact input.
func TestCompressedLenMatchesReferenceZlib(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Version string     `json:"zlib_version"`
		Cases   []zlibCase `json:"cases"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Cases) == 0 {
		t.Fatal("no cases")
	}
	for i, c := range f.Cases {
		b := c.input()
		if len(b) != c.Len {
			t.Fatalf("case %d: generated %d bytes, make_cases.py made %d", i, len(b), c.Len)
		}
		if got := CompressedLen(b); got != c.ZlibLen {
			t.Errorf("case %d (%d bytes): CompressedLen %d, zlib %s wrote %d", i, len(b), got, f.Version, c.ZlibLen)
		}
	}
}

// TestCompressedLenBeyondMaxExact checks the fallback: past MaxExact the
// length is that of Go's own (valid) zlib stream.
func TestCompressedLenBeyondMaxExact(t *testing.T) {
	b := bytes.Repeat([]byte("the cat sat on the mat and then it ran "), MaxExact/20)
	if len(b) <= MaxExact {
		t.Fatalf("input of %d bytes is not past MaxExact", len(b))
	}
	var buf bytes.Buffer
	w, _ := zlib.NewWriterLevel(&buf, 6)
	w.Write(b)
	w.Close()
	if got := CompressedLen(b); got != buf.Len() {
		t.Fatalf("CompressedLen %d, Go's zlib %d", got, buf.Len())
	}
	r, err := zlib.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if back, err := io.ReadAll(r); err != nil || !bytes.Equal(back, b) {
		t.Fatalf("round trip: %v", err)
	}
}
