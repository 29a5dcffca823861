package gpt2

import (
	"context"
	"image"
	"math"
	"slices"
	"testing"

	"github.com/goformer/goformer/imageproc"
	"github.com/goformer/goformer/internal/expected"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

type vitGPT2Cases struct {
	Captions []struct {
		Image     string  `json:"image"`
		IDs       []int   `json:"ids"`
		MinMargin float64 `json:"min_margin"`
		Text      string  `json:"text"`
	} `json:"captions"`
	Tokenizer []struct {
		Text string `json:"text"`
		IDs  []int  `json:"ids"`
	} `json:"tokenizer"`
}

// readCases reads the vit-gpt2 fixture's cases.json and returns the
// fixture's folder.
func readCases(t *testing.T) (vitGPT2Cases, string) {
	t.Helper()
	var c vitGPT2Cases
	dir := testdata.Cases(t, "vit-gpt2", &c)
	if len(c.Captions) == 0 {
		t.Fatal("cases.json has no captions")
	}
	return c, dir
}

// loadCaptioner loads the fixture's captioner (closed with the test).
func loadCaptioner(t *testing.T, dir string, opts ...nn.LoadOption) *Captioner {
	t.Helper()
	return testdata.LoadModel(t, dir, LoadCaptioner, opts...)
}

func loadImage(t *testing.T, name string) image.Image {
	t.Helper()
	return testdata.DecodeFile(t, testdata.Path(t, "media", "images", name), imageproc.Decode)
}

// teacherForced returns the decoder's logits over ids (all but the last
// fed) after the encoder's output for pixel values px [1, C, H, W].
func teacherForced(t *testing.T, c *Captioner, px *tensor.Tensor, ids []int) *tensor.Tensor {
	t.Helper()
	ctx := context.Background()
	enc, err := c.Encode(ctx, px)
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Decoder().NewState(1, enc)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Release()
	logits, err := c.Decoder().Logits(ctx, st, [][]int{ids[:len(ids)-1]})
	if err != nil {
		t.Fatal(err)
	}
	return logits
}

func TestParity_vit_gpt2(t *testing.T) {
	cases, dir := readCases(t)
	c := loadCaptioner(t, dir)
	wantPixels := expected.Tensor(t, "vit-gpt2", "pixel_values")
	if wantPixels.Dim(0) != len(cases.Captions) {
		t.Fatalf("pixel_values has %d images for %d cases", wantPixels.Dim(0), len(cases.Captions))
	}
	ctx := context.Background()

	t.Run("pixel_values", func(t *testing.T) {
		for i, cs := range cases.Captions {
			px, err := c.Processor().Preprocess(loadImage(t, cs.Image))
			if err != nil {
				t.Fatal(err)
			}
			d := testdata.TensorDiff(t, cs.Image, px, wantPixels.Index(i))
			t.Logf("%s: pixel_values max|Δ| = %.3g", cs.Image, d)
			if d > 1e-5 {
				t.Errorf("%s: pixel_values max|Δ| = %g > 1e-5", cs.Image, d)
			}
		}
	})

	t.Run("generate_from_pixel_values", func(t *testing.T) {
		for i, cs := range cases.Captions {
			caps, err := c.CaptionPixels(ctx, wantPixels.Slice(0, i, i+1), CaptionOptions{MaxNewTokens: len(cs.IDs) - 1})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(caps[0].IDs, cs.IDs) {
				t.Errorf("%s: ids\n got %v\nwant %v (min_margin %g)", cs.Image, caps[0].IDs, cs.IDs, cs.MinMargin)
			}
			if caps[0].Text != cs.Text {
				t.Errorf("%s: text %q, want %q", cs.Image, caps[0].Text, cs.Text)
			}
		}
	})

	t.Run("teacher_forced_margins", func(t *testing.T) {
		// The smallest top-1/top-2 logit gap over the generated steps, from
		// one teacher-forced pass over the expected ids: it must agree with
		// the fixture's min_margin (a check on the logits themselves).
		for i, cs := range cases.Captions {
			logits := teacherForced(t, c, wantPixels.Slice(0, i, i+1), cs.IDs)
			v := logits.Dim(-1)
			ld := logits.Data()
			margin := math.Inf(1)
			for step := 0; step < len(cs.IDs)-1; step++ {
				row := ld[step*v : (step+1)*v]
				top := tensor.TopK(row, 2)
				if top[0] != cs.IDs[step+1] {
					t.Errorf("%s: step %d: argmax %d, want %d", cs.Image, step, top[0], cs.IDs[step+1])
				}
				margin = math.Min(margin, float64(row[top[0]]-row[top[1]]))
			}
			t.Logf("%s: min margin %.6g (fixture %.6g, |Δ| %.2g)", cs.Image, margin, cs.MinMargin, math.Abs(margin-cs.MinMargin))
			if math.Abs(margin-cs.MinMargin) > 1e-4 {
				t.Errorf("%s: min margin %g, fixture %g", cs.Image, margin, cs.MinMargin)
			}
		}
	})

	t.Run("tokenizer", func(t *testing.T) {
		if len(cases.Tokenizer) == 0 {
			testdata.Missing(t, "the fixture has no tokenizer cases")
		}
		for _, tc := range cases.Tokenizer {
			if got := c.Tokenizer().Encode(tc.Text); !slices.Equal(got, tc.IDs) {
				t.Errorf("encode(%q) = %v, want %v", tc.Text, got, tc.IDs)
			}
		}
	})

	t.Run("caption_images", func(t *testing.T) {
		for _, cs := range cases.Captions {
			got, err := c.Caption(ctx, loadImage(t, cs.Image), CaptionOptions{MaxNewTokens: len(cs.IDs) - 1})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.IDs, cs.IDs) {
				t.Errorf("%s: ids\n got %v\nwant %v", cs.Image, got.IDs, cs.IDs)
			}
			if got.Text != cs.Text {
				t.Errorf("%s: text %q, want %q", cs.Image, got.Text, cs.Text)
			}
		}
	})
}
