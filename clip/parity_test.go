package clip

import (
	"context"
	"encoding/json"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/imageproc"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
)

type clipCases struct {
	Images   []string `json:"images"`
	Texts    []string `json:"texts"`
	InputIDs [][]int  `json:"input_ids"`
	Decoded  []string `json:"decoded"`
	ZeroShot struct {
		Labels []string    `json:"labels"`
		Probs  [][]float64 `json:"probs"`
	} `json:"zero_shot"`
}

type clipFixture struct {
	dir   string
	cases clipCases
	exp   *checkpoint.Safetensors
	model *Model
}

var (
	fixtureOnce sync.Once
	fixture     *clipFixture
	fixtureErr  error
)

// loadClipFixture loads the clip fixture once for all tests (a loaded model
// is immutable): cases.json, expected.safetensors and the model through
// Load.
func loadClipFixture(t testing.TB) *clipFixture {
	t.Helper()
	dir := testdata.Fixture(t, "clip")
	fixtureOnce.Do(func() {
		f := &clipFixture{dir: dir}
		raw, err := os.ReadFile(filepath.Join(dir, "cases.json"))
		if err != nil {
			fixtureErr = err
			return
		}
		if err := json.Unmarshal(raw, &f.cases); err != nil {
			fixtureErr = fmt.Errorf("cases.json: %w", err)
			return
		}
		if f.exp, err = checkpoint.OpenSafetensors(filepath.Join(dir, "expected.safetensors")); err != nil {
			fixtureErr = err
			return
		}
		if f.model, err = Load(filepath.Join(dir, "model")); err != nil {
			fixtureErr = fmt.Errorf("Load: %w", err)
			return
		}
		fixture = f
	})
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
	return fixture
}

func (f *clipFixture) tensor(t testing.TB, name string) *tensor.Tensor {
	t.Helper()
	x, err := f.exp.Tensor(name)
	if err != nil {
		t.Fatalf("expected.safetensors: %v", err)
	}
	return x
}

// ints reads an integer [N, T] tensor as rows.
func (f *clipFixture) ints(t testing.TB, name string) [][]int {
	t.Helper()
	v, shape, err := f.exp.Int64s(name)
	if err != nil {
		t.Fatalf("expected.safetensors: %v", err)
	}
	if len(shape) != 2 {
		t.Fatalf("%s has shape %v, want 2-D", name, shape)
	}
	out := make([][]int, shape[0])
	for i := range out {
		out[i] = make([]int, shape[1])
		for j := range out[i] {
			out[i][j] = int(v[i*shape[1]+j])
		}
	}
	return out
}

func (f *clipFixture) images(t testing.TB) []image.Image {
	t.Helper()
	var imgs []image.Image
	for _, name := range f.cases.Images {
		imgs = append(imgs, testdata.DecodeFile(t, testdata.Path(t, "media", "images", name), imageproc.Decode))
	}
	return imgs
}

func checkTol(t testing.TB, name string, diff, tol float64) {
	t.Helper()
	t.Logf("%-18s max|Δ| = %.3g (tolerance %.0e)", name, diff, tol)
	if !(diff <= tol) {
		t.Errorf("%s: max|Δ| = %g exceeds %g", name, diff, tol)
	}
}

func TestParity_clip(t *testing.T) {
	f := loadClipFixture(t)
	m := f.model
	ctx := context.Background()
	cfg := m.Config()

	ids := f.ints(t, "input_ids")
	mask := f.ints(t, "attention_mask")
	if len(ids) != len(f.cases.Texts) || len(f.cases.InputIDs) != len(f.cases.Texts) {
		t.Fatalf("fixture has %d texts, %d input_ids rows, %d case id lists", len(f.cases.Texts), len(ids), len(f.cases.InputIDs))
	}

	t.Run("tokenize", func(t *testing.T) {
		if !m.HasTokenizer() {
			t.Fatal("the fixture model directory has tokenizer files but no tokenizer was loaded")
		}
		gotIDs, gotMask, err := m.Tokenize(f.cases.Texts)
		if err != nil {
			t.Fatal(err)
		}
		for i, text := range f.cases.Texts {
			want := f.cases.InputIDs[i]
			n := 0
			for _, v := range mask[i] {
				n += v
			}
			if n != len(want) {
				t.Fatalf("fixture inconsistent for text %d: mask sums to %d, %d ids", i, n, len(want))
			}
			// Padding differs by choice (the fixture pads to 77); compare the
			// tokens and the mask over the longer of the two.
			for j := range max(len(gotIDs[i]), len(ids[i])) {
				var g, gm, w, wm int = -1, 0, -1, 0
				if j < len(gotIDs[i]) {
					g, gm = gotIDs[i][j], gotMask[i][j]
				}
				if j < len(ids[i]) {
					w, wm = ids[i][j], mask[i][j]
				}
				if gm != wm || (wm == 1 && g != w) {
					t.Errorf("text %d %q position %d: got id %d mask %d, want id %d mask %d", i, text, j, g, gm, w, wm)
					break
				}
			}
		}
	})

	t.Run("pixel_values", func(t *testing.T) {
		pix, err := m.Preprocess(f.images(t))
		if err != nil {
			t.Fatal(err)
		}
		want := f.tensor(t, "pixel_values")
		if !tensor.SameShape(pix, want) {
			t.Fatalf("pixel_values shape %v, want %v", pix.Shape(), want.Shape())
		}
		n := want.Dim(0)
		checkTol(t, "pixel_values", testdata.RowsDiff(t, "pixel_values", rows(pix.MustReshape(n, -1)), want.MustReshape(n, -1)), 1e-5)
	})

	var textF, imgF *Features
	t.Run("text", func(t *testing.T) {
		var err error
		textF, err = m.TextFeatures(ctx, ids, mask)
		if err != nil {
			t.Fatal(err)
		}
		if len(textF.Embeds[0]) != cfg.ProjectionDim {
			t.Fatalf("embedding width %d, config projection_dim %d", len(textF.Embeds[0]), cfg.ProjectionDim)
		}
		checkTol(t, "text_pooled", testdata.RowsDiff(t, "text_pooled", textF.Pooled, f.tensor(t, "text_pooled")), 1e-4)
		checkTol(t, "text_embeds", testdata.RowsDiff(t, "text_embeds", textF.Embeds, f.tensor(t, "text_embeds")), 1e-4)
		// The unpadded ids of cases.json give the same result.
		unpadded, err := m.TextFeatures(ctx, f.cases.InputIDs, nil)
		if err != nil {
			t.Fatal(err)
		}
		checkTol(t, "text_embeds (unpadded)", testdata.RowsDiff(t, "text_embeds", unpadded.Embeds, f.tensor(t, "text_embeds")), 1e-4)
	})

	t.Run("image", func(t *testing.T) {
		var err error
		imgF, err = m.ImageFeatures(ctx, f.tensor(t, "pixel_values"))
		if err != nil {
			t.Fatal(err)
		}
		checkTol(t, "image_pooled", testdata.RowsDiff(t, "image_pooled", imgF.Pooled, f.tensor(t, "image_pooled")), 1e-4)
		checkTol(t, "image_embeds", testdata.RowsDiff(t, "image_embeds", imgF.Embeds, f.tensor(t, "image_embeds")), 1e-4)
		// End to end from the image files.
		emb, err := m.EmbedImages(ctx, f.images(t))
		if err != nil {
			t.Fatal(err)
		}
		checkTol(t, "image_embeds (files)", testdata.RowsDiff(t, "image_embeds", emb, f.tensor(t, "image_embeds")), 1e-4)
	})

	t.Run("logits", func(t *testing.T) {
		if textF == nil || imgF == nil {
			t.Fatal("text or image features failed above: nothing to compare")
		}
		s, err := m.SimilarityOf(textF.Embeds, imgF.Embeds)
		if err != nil {
			t.Fatal(err)
		}
		checkTol(t, "logits_per_image", testdata.RowsDiff(t, "logits_per_image", s.LogitsPerImage, f.tensor(t, "logits_per_image")), 1e-3)
		lpt := f.tensor(t, "logits_per_image").Transpose(0, 1).Contiguous()
		checkTol(t, "logits_per_text", testdata.RowsDiff(t, "logits_per_text", s.LogitsPerText, lpt), 1e-3)
	})

	t.Run("zero_shot", func(t *testing.T) {
		zs := f.cases.ZeroShot
		if len(zs.Probs) != len(f.cases.Images) {
			t.Fatalf("zero_shot has %d prob rows for %d images", len(zs.Probs), len(f.cases.Images))
		}
		check := func(name string, res [][]LabelScore) {
			var worst float64
			for i, ranked := range res {
				if len(ranked) != len(zs.Labels) {
					t.Fatalf("%s: image %d: %d labels, want %d", name, i, len(ranked), len(zs.Labels))
				}
				for k := 1; k < len(ranked); k++ {
					if ranked[k].Probability > ranked[k-1].Probability {
						t.Errorf("%s: image %d: labels not sorted by probability: %v", name, i, ranked)
					}
				}
				for j, label := range zs.Labels {
					found := false
					for _, ls := range ranked {
						if ls.Label == label {
							found = true
							worst = max(worst, math.Abs(float64(ls.Probability)-zs.Probs[i][j]))
						}
					}
					if !found {
						t.Errorf("%s: image %d: label %q missing", name, i, label)
					}
				}
			}
			checkTol(t, name, worst, 1e-4)
		}
		if m.HasTokenizer() {
			res, err := m.ZeroShotBatch(ctx, f.images(t), zs.Labels, ZeroShotOptions{})
			if err != nil {
				t.Fatal(err)
			}
			check("zero-shot probs", res)
		} else {
			t.Error("no tokenizer: zero-shot from strings not checked")
		}
		// From the fixture's own pixel values and ids (the labels are texts
		// of the fixture).
		if textF == nil || imgF == nil {
			t.Fatal("text or image features failed above: nothing to compare")
		}
		var labelEmb [][]float32
		for _, l := range zs.Labels {
			for j, text := range f.cases.Texts {
				if text == l {
					labelEmb = append(labelEmb, textF.Embeds[j])
					break
				}
			}
		}
		if len(labelEmb) != len(zs.Labels) {
			t.Fatalf("zero-shot labels are not all among the texts")
		}
		res, err := m.ZeroShotOf(labelEmb, imgF.Embeds, zs.Labels, 0)
		if err != nil {
			t.Fatal(err)
		}
		check("zero-shot probs (tensors)", res)
	})
}
