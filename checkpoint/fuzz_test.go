package checkpoint

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/goformer/goformer/internal/testdata"
)

// safetensorsSeeds are the fixtures' small checkpoints and a 16-bit one.
func safetensorsSeeds(f *testing.F) {
	for _, fx := range []string{"vit", "whisper", "clip"} {
		testdata.FuzzSeedFiles(f, 4<<20-1, []string{"fixtures", fx, "model", "model.safetensors"})
	}
	f.Add(testdata.Safetensors(`{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"__metadata__":{"format":"pt"}}`, []byte{0, 60, 0, 188}))
}

// FuzzSafetensors feeds arbitrary bytes to the safetensors parser and reads
// every tensor it accepts: errors are fine, panics and out-of-range reads
// are not.
func FuzzSafetensors(f *testing.F) {
	safetensorsSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSafetensors("fuzz", data)
		if err != nil {
			return
		}
		for _, name := range s.Names() {
			if tt, err := s.Tensor(name); err == nil {
				_ = tt.Data()
			}
			s.Int64s(name)
		}
		// As a model loads it: a Store (16-bit tensors kept as they are),
		// every 2-D 16-bit tensor taken as it is (rows cut, widened), the
		// rest read as float32.
		st, err := storeFromSafetensors(s, "fuzz")
		if err != nil {
			return
		}
		defer st.Close()
		names := st.Names()
		index := map[string]int{}
		for i, n := range names {
			index[n] = i
		}
		st.Rename(func(n string) string { return fmt.Sprintf("t%d.weight", index[n]) })
		for i, name := range names {
			info, _ := s.Info(name)
			w := st.Root().Sub(fmt.Sprintf("t%d", i))
			_ = w.PackType("weight")
			if len(info.Shape) == 2 {
				if h, ok := w.Half("weight", info.Shape...); ok {
					if h.DType() != info.DType || len(h.Data) != info.Shape[0]*info.Shape[1] {
						t.Fatalf("%s: %s %v held as %s with %d values", name, info.DType, info.Shape, h.DType(), len(h.Data))
					}
					_ = h.Rows(info.Shape[0]/2, info.Shape[0]).Widen()
					_ = h.Widen()
					continue
				}
			}
			_ = w.Tensor("weight", info.Shape...)
		}
		if err := st.Err(true); err != nil {
			t.Fatalf("every tensor read with its own shape: %v", err)
		}
	})
}

// zipWith writes a zip of records (stored, not compressed) to dir/name.
func zipWith(t testing.TB, dir, name string, records map[string][]byte) string {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for n, data := range records {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: n, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkPyTorchResult fails unless a PyTorch read returned a store or an
// error wrapping one of the checkpoint sentinels.
func checkPyTorchResult(t *testing.T, s *Store, err error) {
	t.Helper()
	if err == nil {
		if s == nil {
			t.Fatal("nil store without an error")
		}
		for _, n := range s.Names() {
			s.Get(n)
		}
		return
	}
	// gopickle panics on some malformed input (an unknown opcode indexes
	// past its dispatch table); the reader recovers that into an error.
	if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrForbiddenPickle) && !errors.Is(err, ErrUnsupportedDType) {
		t.Fatalf("error %v wraps none of the checkpoint sentinels", err)
	}
}

// FuzzPickle wraps arbitrary bytes as the data.pkl of a PyTorch zip.
func FuzzPickle(f *testing.F) {
	f.Add([]byte("\x80\x02cos\nsystem\nq\x00."))
	f.Add([]byte("\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01K\x01u."))
	f.Add(stateDictPickle())
	if root, ok := testdata.Root(); ok {
		if zr, err := zip.OpenReader(filepath.Join(root, "fixtures", "vit", "model", "pytorch_model.bin")); err == nil {
			for _, zf := range zr.File {
				if filepath.Base(zf.Name) == "data.pkl" {
					if r, err := zf.Open(); err == nil {
						var b bytes.Buffer
						b.ReadFrom(r)
						r.Close()
						f.Add(b.Bytes())
					}
				}
			}
			zr.Close()
		}
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, pkl []byte) {
		p := zipWith(t, dir, "fuzz.bin", map[string][]byte{"archive/data.pkl": pkl})
		s, _, err := OpenPyTorch(p)
		checkPyTorchResult(t, s, err)
	})
}

// FuzzTorchScriptPickle feeds altered data.pkl records to the reader of a
// TorchScript archive (constants.pkl present, with the storages of
// torchScriptArchive): it must return tensors or a checkpoint error, never
// crash or hang.
func FuzzTorchScriptPickle(f *testing.F) {
	records := torchScriptRecords()
	f.Add(records["tiny/data.pkl"])
	f.Add([]byte("\x80\x02}q\x00."))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, p []byte) {
		rec := map[string][]byte{}
		for k, v := range records {
			rec[k] = v
		}
		rec["tiny/data.pkl"] = p
		s, _, err := OpenPyTorch(zipWith(t, dir, "f.pt", rec))
		checkPyTorchResult(t, s, err)
	})
}

// FuzzLegacyPyTorch feeds arbitrary files to the reader of the legacy
// (pre-zip) torch.save format.
func FuzzLegacyPyTorch(f *testing.F) {
	f.Add(legacyFile(f))
	f.Add([]byte("hello, this is not a checkpoint"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "f.pt")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		s, _, err := OpenPyTorch(p)
		checkPyTorchResult(t, s, err)
	})
}
