package vit

import (
	"context"
	"encoding/json"
	"image"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/goformer/goformer/imageproc"
	"github.com/goformer/goformer/internal/testdata"
)

type vitCases struct {
	Images []string `json:"images"`
	Top3   [][]struct {
		Label string  `json:"label"`
		Score float64 `json:"score"`
	} `json:"top3"`
	Interpolated struct {
		Images  []string `json:"images"`
		Size    int      `json:"size"`
		Tensors []string `json:"tensors"`
	} `json:"interpolated"`
}

func readVitCases(t *testing.T, dir string) vitCases {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c vitCases
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func checkClose(t *testing.T, what string, got, want []float32, shapeGot, shapeWant []int, tol float64) {
	t.Helper()
	if !sameShape(shapeGot, shapeWant) {
		t.Errorf("%s: shape %v, want %v", what, shapeGot, shapeWant)
		return
	}
	d, at := testdata.MaxAbsDiff(got, want)
	t.Logf("%s: max|Δ| = %.3g", what, d)
	if d > tol {
		t.Errorf("%s: max|Δ| = %g at %d (got %g, want %g), tolerance %g", what, d, at, got[at], want[at], tol)
	}
}

// TestParity_vit checks the whole pipeline against transformers on every
// image of fixtures/vit: pixel values, embeddings, last hidden state,
// logits and top-3 predictions; the model loaded from pytorch_model.bin;
// and the interpolated-position-encoding case at another resolution.
func TestParity_vit(t *testing.T) {
	dir := testdata.Fixture(t, "vit")
	cases := readVitCases(t, dir)
	m, err := Load(filepath.Join(dir, "model"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()

	imgs := make([]image.Image, len(cases.Images))
	for i, name := range cases.Images {
		imgs[i] = loadImageFile(t, name)
	}
	pixels, err := m.Processor().PreprocessBatch(imgs)
	if err != nil {
		t.Fatal(err)
	}
	wantPix := readExpected(t, "vit", "pixel_values")
	checkClose(t, "pixel_values", pixels.Data(), wantPix.Data(), pixels.Shape(), wantPix.Shape(), 1e-5)

	// The fixture's "embeddings" and "last_hidden_state" are transformers'
	// hidden_states[0] and hidden_states[-1]: the embedding output and the
	// last block's output before the final layer norm (the logits, which
	// read the normalized class token, pin that norm down).
	ctx := context.Background()
	out, err := m.Forward(ctx, pixels, Options{OutputHiddenStates: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.HiddenStates) != m.Config.NumHiddenLayers+1 {
		t.Fatalf("%d hidden states, want %d", len(out.HiddenStates), m.Config.NumHiddenLayers+1)
	}
	emb := out.HiddenStates[0]
	wantEmb := readExpected(t, "vit", "embeddings")
	checkClose(t, "embeddings", emb.Data(), wantEmb.Data(), emb.Shape(), wantEmb.Shape(), 1e-4)
	last := out.HiddenStates[len(out.HiddenStates)-1]
	wantHidden := readExpected(t, "vit", "last_hidden_state")
	checkClose(t, "last_hidden_state (hidden_states[-1])", last.Data(), wantHidden.Data(), last.Shape(), wantHidden.Shape(), 1e-4)
	// LastHiddenState is that state after the final layer norm, and the
	// default Pooled output is its class token.
	normed := m.Encoder.Norm.Forward(last)
	checkClose(t, "LastHiddenState = layernorm(hidden_states[-1])", out.LastHiddenState.Data(), normed.Data(), out.LastHiddenState.Shape(), normed.Shape(), 0)
	d := m.Config.HiddenSize
	checkClose(t, "Pooled = class token", out.Pooled.Data()[:d], normed.Data()[:d], []int{d}, []int{d}, 0)
	wantLogits := readExpected(t, "vit", "logits")
	checkClose(t, "logits", out.Logits.Data(), wantLogits.Data(), out.Logits.Shape(), wantLogits.Shape(), 1e-4)

	// Top-3 through the task API, one image at a time and as a batch.
	batch, err := m.ClassifyBatch(ctx, imgs, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(cases.Top3) != len(cases.Images) {
		t.Fatalf("%d top3 entries for %d images", len(cases.Top3), len(cases.Images))
	}
	for i, want := range cases.Top3 {
		one, err := m.Classify(ctx, imgs[i], 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, got := range [][]Prediction{one, batch[i]} {
			if len(got) != len(want) {
				t.Fatalf("%s: %d predictions, want %d", cases.Images[i], len(got), len(want))
			}
			for j := range want {
				if got[j].Label != want[j].Label || math.Abs(float64(got[j].Score)-want[j].Score) > 1e-4 {
					t.Errorf("%s #%d: got %q %.6f, want %q %.6f", cases.Images[i], j, got[j].Label, got[j].Score, want[j].Label, want[j].Score)
				}
			}
		}
	}

	// The same weights from pytorch_model.bin.
	bin := filepath.Join(dir, "model", "pytorch_model.bin")
	if _, err := os.Stat(bin); err == nil {
		// A folder holding only the .bin (and the configs).
		only := t.TempDir()
		for _, name := range []string{"config.json", "preprocessor_config.json", "pytorch_model.bin"} {
			if err := os.Symlink(filepath.Join(dir, "model", name), filepath.Join(only, name)); err != nil {
				t.Fatal(err)
			}
		}
		mb, err := Load(only)
		if err != nil {
			t.Fatalf("pytorch_model.bin: %v", err)
		}
		defer mb.Close()
		lb, err := mb.Logits(ctx, pixels)
		if err != nil {
			t.Fatal(err)
		}
		checkClose(t, "logits (pytorch_model.bin)", lb.Data(), wantLogits.Data(), lb.Shape(), wantLogits.Shape(), 1e-4)
	} else {
		t.Errorf("fixture lacks pytorch_model.bin: %v", err)
	}

	// interpolate_pos_encoding at another resolution.
	ip := cases.Interpolated
	if ip.Size == 0 {
		return
	}
	pc := m.Processor().Config()
	pc.Size = imageproc.Size{Height: ip.Size, Width: ip.Size}
	proc, err := imageproc.NewProcessor(pc)
	if err != nil {
		t.Fatal(err)
	}
	iimgs := make([]image.Image, len(ip.Images))
	for i, name := range ip.Images {
		iimgs[i] = loadImageFile(t, name)
	}
	ipix, err := proc.PreprocessBatch(iimgs)
	if err != nil {
		t.Fatal(err)
	}
	wantIPix := readExpected(t, "vit", "pixel_values_interpolated")
	checkClose(t, "pixel_values_interpolated", ipix.Data(), wantIPix.Data(), ipix.Shape(), wantIPix.Shape(), 1e-5)
	if _, err := m.Forward(ctx, ipix, Options{}); err == nil {
		t.Errorf("%dpx input without InterpolatePosEncoding: no error", ip.Size)
	}
	iout, err := m.Forward(ctx, ipix, Options{InterpolatePosEncoding: true})
	if err != nil {
		t.Fatal(err)
	}
	wantILogits := readExpected(t, "vit", "logits_interpolated")
	checkClose(t, "logits_interpolated", iout.Logits.Data(), wantILogits.Data(), iout.Logits.Shape(), wantILogits.Shape(), 1e-4)
}
