package clip

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
)

// TestQ8_clip runs the clip fixture with int8 weights
// (LoadOptions{WeightType: tensor.WeightQ8}; its checkpoint is BF16, which
// Q8 quantizes too) and measures against the float32 reference: text and
// image embeddings (max|Δ| / max|x|) and logits_per_image (max|Δ| / max|x|
// and top-1 agreement of each image's best text), within the documented
// budget (testdata.Q8Rel, testdata.Q8Top1; tensor/PERFORMANCE.md).
func TestQ8_clip(t *testing.T) {
	f := loadClipFixture(t)
	m, err := Load(filepath.Join(f.dir, "model"), WithWeightType(tensor.WeightQ8))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	textF, err := m.TextFeatures(ctx, f.ints(t, "input_ids"), f.ints(t, "attention_mask"))
	if err != nil {
		t.Fatal(err)
	}
	imgF, err := m.ImageFeatures(ctx, f.tensor(t, "pixel_values"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.SimilarityOf(textF.Embeds, imgF.Embeds)
	if err != nil {
		t.Fatal(err)
	}
	flat := func(rows [][]float32) []float32 {
		var out []float32
		for _, r := range rows {
			out = append(out, r...)
		}
		return out
	}
	cmp := func(got [][]float32, name string) testdata.Accuracy {
		want := f.tensor(t, name)
		return testdata.CompareLogits(flat(got), want.Contiguous().Data(), want.Dim(-1))
	}
	at, ai, al := cmp(textF.Embeds, "text_embeds"), cmp(imgF.Embeds, "image_embeds"), cmp(s.LogitsPerImage, "logits_per_image")
	t.Logf("Q8 (%s kernels): text_embeds max|Δ|/max|x| = %.4f, image_embeds %.4f", tensor.Q8Kernel(), at.Rel, ai.Rel)
	t.Logf("Q8: logits_per_image %v", al)
	testdata.CheckQ8Rel(t, "text_embeds", at.Rel)
	testdata.CheckQ8Rel(t, "image_embeds", ai.Rel)
	testdata.CheckQ8(t, "logits_per_image", al)
}
