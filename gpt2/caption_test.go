package gpt2

import (
	"context"
	"image"
	"slices"
	"testing"

	"github.com/goformer/goformer/imageproc"
	"github.com/goformer/goformer/vit"
)

// TestWithProcessor checks that WithProcessor returns a copy that
// preprocesses with the given processor, leaving the original as it was.
func TestWithProcessor(t *testing.T) {
	ec := vit.EncoderConfig{HiddenSize: 16, NumLayers: 1, NumHeads: 2, IntermediateSize: 32, HiddenAct: "gelu",
		LayerNormEps: 1e-12, ImageSize: 16, PatchSize: 8, NumChannels: 3, QKVBias: true, PatchBias: true}
	dc := DefaultConfig()
	dc.VocabSize, dc.NPositions, dc.NEmbd, dc.NLayer, dc.NHead, dc.NInner = 20, 16, 16, 1, 2, 32
	c := randomCaptioner(t, ec, dc)
	if c.Processor() != nil {
		t.Fatal("NewCaptioner made a captioner with a processor")
	}
	img := image.NewRGBA(image.Rect(0, 0, 24, 20))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 13)
	}
	ctx := context.Background()
	opt := CaptionOptions{MaxNewTokens: 3}
	if _, err := c.Caption(ctx, img, opt); err == nil {
		t.Error("Caption without a processor: no error")
	}
	pc := imageproc.DefaultProcessorConfig(imageproc.ViTImageProcessorType)
	pc.Size = imageproc.Size{Height: ec.ImageSize, Width: ec.ImageSize}
	p, err := imageproc.NewProcessor(pc)
	if err != nil {
		t.Fatal(err)
	}
	c2 := c.WithProcessor(p)
	if c2 == c || c2.Processor() != p || c.Processor() != nil {
		t.Fatalf("WithProcessor: copy has %p, original %p, want %p and nil", c2.Processor(), c.Processor(), p)
	}
	got, err := c2.Caption(ctx, img, opt)
	if err != nil {
		t.Fatal(err)
	}
	px, err := p.PreprocessBatch([]image.Image{img})
	if err != nil {
		t.Fatal(err)
	}
	want, err := c.CaptionPixels(ctx, px, opt)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.IDs, want[0].IDs) {
		t.Errorf("Caption of the copy %v, CaptionPixels of its processor's pixels %v", got.IDs, want[0].IDs)
	}
	if _, err := c2.WithProcessor(nil).Caption(ctx, img, opt); err == nil {
		t.Error("Caption after WithProcessor(nil): no error")
	}
	if _, err := c2.Caption(ctx, img, opt); err != nil {
		t.Errorf("WithProcessor(nil) changed its receiver: %v", err)
	}
}
