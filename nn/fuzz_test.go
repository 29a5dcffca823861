package nn

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
)

// FuzzLinearFromSafetensors loads arbitrary bytes as a safetensors
// checkpoint (the parser itself is fuzzed by checkpoint.FuzzSafetensors)
// and builds every small 2-D tensor into a Linear (16-bit ones kept as they
// are), which is packed, run and read back: errors are fine, panics and
// out-of-range reads are not.
func FuzzLinearFromSafetensors(f *testing.F) {
	for _, fx := range []string{"vit", "whisper", "clip"} {
		testdata.FuzzSeedFiles(f, 4<<20-1, []string{"fixtures", fx, "model", "model.safetensors"})
	}
	f.Add(testdata.Safetensors(`{"a":{"dtype":"F16","shape":[1,2],"data_offsets":[0,4]},"__metadata__":{"format":"pt"}}`, []byte{0, 60, 0, 188}))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "fuzz.safetensors")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		st, err := checkpoint.LoadSafetensors(p)
		if err != nil {
			return
		}
		defer st.Close()
		shapes := map[string][]int{}
		if s, err := checkpoint.ParseSafetensors("fuzz", data); err == nil {
			for _, n := range s.Names() {
				info, _ := s.Info(n)
				shapes[n] = info.Shape
			}
		}
		names := st.Names()
		st.Rename(func(n string) string { return fmt.Sprintf("t%d.weight", slices.Index(names, n)) })
		for i, name := range names {
			shape := shapes[name]
			key := fmt.Sprintf("t%d", i)
			if len(shape) == 2 && shape[0] > 0 && shape[1] > 0 && shape[0] <= 256 && shape[1] <= 256 {
				l := NewLinear(st.Root().Sub(key), shape[1], shape[0], false)
				y := l.Forward(tensor.New(1, shape[1]))
				if y.Dim(1) != shape[0] {
					t.Fatalf("%s: Linear output %v", name, y.Shape())
				}
				_ = l.Weight()
				_ = l.Rows(0, shape[0]/2+1).Forward(tensor.New(1, shape[1]))
				continue
			}
			_, _ = st.Get(key + ".weight")
		}
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
