package integration

import (
	"context"
	"errors"
	"image"
	"math"
	"testing"

	"github.com/goformer/goformer/clip"
	"github.com/goformer/goformer/gpt2"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
	"github.com/goformer/goformer/vit"
)

// TestWeightTypeOptions checks the 16-bit weight options of the families
// not covered in their own packages (whisper and blip test theirs against
// the fixtures): ViT logits with F16 linear weights stay within the
// opt-in's documented cost of the float32 logits; CLIP's checkpoint is
// BF16, whose weights are kept in their own type whatever is asked, so its
// embeddings do not change at all; the ViT-GPT2 captioner runs with F16
// weights; an unknown type is refused with nn.ErrConfig everywhere.
func TestWeightTypeOptions(t *testing.T) {
	m := loadModels(t)
	ctx := context.Background()
	img := m.images["chelsea.png"]

	v16, err := vit.Load(modelDir(t, "vit"), vit.WithWeightType(tensor.WeightF16))
	if err != nil {
		t.Fatal(err)
	}
	defer v16.Close()
	px, err := m.vit.Processor().PreprocessBatch([]image.Image{img})
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.vit.Logits(ctx, px)
	if err != nil {
		t.Fatal(err)
	}
	got, err := v16.Logits(ctx, px)
	if err != nil {
		t.Fatal(err)
	}
	var d, s float64
	for i, w := range want.Data() {
		d = max(d, math.Abs(float64(got.Data()[i]-w)))
		s = max(s, math.Abs(float64(w)))
	}
	t.Logf("vit F16 weights: logits max|Δ|/max|x| = %.3g", d/s)
	if d/s > 2e-3 || d == 0 {
		t.Errorf("vit F16 weights: relative logits error %.3g (want in (0, 2e-3])", d/s)
	}

	c16, err := clip.Load(modelDir(t, "clip"), clip.WithWeightType(tensor.WeightF16))
	if err != nil {
		t.Fatal(err)
	}
	defer c16.Close()
	e32, err := m.clip.EmbedImages(ctx, []image.Image{img})
	if err != nil {
		t.Fatal(err)
	}
	e16, err := c16.EmbedImages(ctx, []image.Image{img})
	if err != nil {
		t.Fatal(err)
	}
	for i := range e32[0] {
		if e32[0][i] != e16[0][i] {
			t.Fatalf("clip (BF16 checkpoint) with the F16 option: embedding %d changed %g -> %g", i, e32[0][i], e16[0][i])
		}
	}

	g16, err := gpt2.LoadCaptioner(modelDir(t, "vit-gpt2"), gpt2.WithWeightType(tensor.WeightF16))
	if err != nil {
		t.Fatal(err)
	}
	defer g16.Close()
	capt, err := g16.Caption(ctx, img, gpt2.CaptionOptions{})
	if err != nil || len(capt.IDs) == 0 {
		t.Fatalf("vit-gpt2 with F16 weights: %v, %d ids", err, len(capt.IDs))
	}

	bad := tensor.WeightType(5)
	for name, err := range map[string]error{
		"vit":  errOf(vit.Load(modelDir(t, "vit"), vit.WithWeightType(bad))),
		"clip": errOf(clip.Load(modelDir(t, "clip"), clip.WithWeightType(bad))),
		"gpt2": errOf(gpt2.LoadCaptioner(modelDir(t, "vit-gpt2"), gpt2.WithWeightType(bad))),
	} {
		if !errors.Is(err, nn.ErrConfig) {
			t.Errorf("%s with weight type %d: err %v, want nn.ErrConfig", name, int(bad), err)
		}
	}
}

func errOf[T any](_ T, err error) error { return err }
