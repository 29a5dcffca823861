package vit

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/goformer/goformer/internal/expected"
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
	var c vitCases
	testdata.ReadJSON(t, filepath.Join(dir, "cases.json"), &c)
	return c
}

// TestParity_vit checks the whole pipeline against transformers on every
// image of fixtures/vit: pixel values, embeddings, last hidden state,
// logits and top-3 predictions; the model loaded from pytorch_model.bin;
// and the interpolated-position-encoding case at another resolution.
func TestParity_vit(t *testing.T) {
	dir := testdata.Fixture(t, "vit")
	cases := readVitCases(t, dir)
	m := testdata.LoadModel(t, dir, Load)

	imgs := loadImageFiles(t, cases.Images)
	pixels := testdata.CheckPixelValues(t, imgs, m.Processor().PreprocessBatch, expected.Tensor(t, "vit", "pixel_values"), 1e-5)

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
	wantEmb := expected.Tensor(t, "vit", "embeddings")
	testdata.CheckClose(t, "embeddings", emb, wantEmb, 1e-4)
	last := out.HiddenStates[len(out.HiddenStates)-1]
	wantHidden := expected.Tensor(t, "vit", "last_hidden_state")
	testdata.CheckClose(t, "last_hidden_state (hidden_states[-1])", last, wantHidden, 1e-4)
	// LastHiddenState is that state after the final layer norm, and the
	// default Pooled output is its class token.
	normed := m.Encoder.Norm.Forward(last)
	testdata.CheckClose(t, "LastHiddenState = layernorm(hidden_states[-1])", out.LastHiddenState, normed, 0)
	testdata.CheckClose(t, "Pooled = class token", out.Pooled.Index(0), normed.Index(0).Index(0), 0)
	wantLogits := expected.Tensor(t, "vit", "logits")
	testdata.CheckClose(t, "logits", out.Logits, wantLogits, 1e-4)

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
	testdata.CheckClose(t, "logits (pytorch_model.bin)", binLogits(t, dir, pixels), wantLogits, 1e-4)

	// interpolate_pos_encoding at another resolution.
	ip := cases.Interpolated
	if ip.Size == 0 {
		return
	}
	ipix := interpolatedPixels(t, m, cases)
	wantIPix := expected.Tensor(t, "vit", "pixel_values_interpolated")
	testdata.CheckClose(t, "pixel_values_interpolated", ipix, wantIPix, 1e-5)
	if _, err := m.Forward(ctx, ipix, Options{}); err == nil {
		t.Errorf("%dpx input without InterpolatePosEncoding: no error", ip.Size)
	}
	iout, err := m.Forward(ctx, ipix, Options{InterpolatePosEncoding: true})
	if err != nil {
		t.Fatal(err)
	}
	wantILogits := expected.Tensor(t, "vit", "logits_interpolated")
	testdata.CheckClose(t, "logits_interpolated", iout.Logits, wantILogits, 1e-4)
}
