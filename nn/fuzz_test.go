package nn

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
)

// FuzzSafetensors feeds arbitrary bytes to the safetensors parser and reads
// every tensor it accepts: errors are fine, panics and out-of-range reads
// are not.
func FuzzSafetensors(f *testing.F) {
	if root, ok := testdata.Root(); ok {
		for _, fx := range []string{"vit", "whisper", "clip"} {
			b, err := os.ReadFile(filepath.Join(root, "fixtures", fx, "model", "model.safetensors"))
			if err == nil && len(b) < 4<<20 {
				f.Add(b)
			}
		}
	}
	var seed bytes.Buffer
	h := []byte(`{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"__metadata__":{"format":"pt"}}`)
	binary.Write(&seed, binary.LittleEndian, uint64(len(h)))
	seed.Write(h)
	seed.Write([]byte{0, 60, 0, 188})
	f.Add(seed.Bytes())
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
		// every small 2-D tensor as a Linear (packed, run, read back), the
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
			key := fmt.Sprintf("t%d", i)
			if len(info.Shape) == 2 && info.Shape[0] > 0 && info.Shape[1] > 0 && info.Shape[0] <= 256 && info.Shape[1] <= 256 {
				l := NewLinear(st.Root().Sub(key), info.Shape[1], info.Shape[0], false)
				y := l.Forward(tensor.New(1, info.Shape[1]))
				if y.Dim(1) != info.Shape[0] {
					t.Fatalf("%s: Linear output %v", name, y.Shape())
				}
				_ = l.Weight()
				continue
			}
			_, _ = st.Get(key + ".weight")
		}
	})
}

// FuzzPickle wraps arbitrary bytes as the data.pkl of a PyTorch zip.
func FuzzPickle(f *testing.F) {
	f.Add([]byte("\x80\x02cos\nsystem\nq\x00."))
	f.Add([]byte("\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01K\x01u."))
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
		p := filepath.Join(dir, "fuzz.bin")
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		w, _ := zw.Create("archive/data.pkl")
		w.Write(pkl)
		zw.Close()
		os.WriteFile(p, buf.Bytes(), 0o644)
		LoadPyTorch(p)
	})
}

// FuzzConfig checks that config decoding with required keys never panics.
func FuzzConfig(f *testing.F) {
	if root, ok := testdata.Root(); ok {
		for _, c := range []string{"vit-base-patch16-224", "whisper-large-v3", "clip-vit-base-patch32", "blip-vqa-base"} {
			if b, err := os.ReadFile(filepath.Join(root, "configs", c, "config.json")); err == nil {
				f.Add(b)
			}
		}
	}
	f.Add([]byte(`{"hidden_size": 8, "vision_config": {"patch_size": null}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var cfg struct {
			Hidden int            `json:"hidden_size"`
			Labels map[string]any `json:"id2label"`
		}
		DecodeJSON("fuzz", data, &cfg, "hidden_size", "vision_config.patch_size")
	})
}
