package clip

import (
	"context"
	"errors"
	"image"
	"slices"
	"testing"

	"github.com/goformer/goformer/imageproc"
	"github.com/goformer/goformer/internal/testdata"
)

// TestWithProcessor checks that WithProcessor returns a copy that
// preprocesses with the given processor, leaving the original as it was.
func TestWithProcessor(t *testing.T) {
	m := loadClipFixture(t).model
	orig := m.Processor()
	if orig == nil {
		t.Fatal("Load made a model without a processor")
	}
	pc := orig.Config()
	pc.Resample = imageproc.Nearest
	pc.DoNormalize = false
	p, err := imageproc.NewProcessor(pc)
	if err != nil {
		t.Fatal(err)
	}
	m2 := m.WithProcessor(p)
	if m2 == m || m2.Processor() != p || m.Processor() != orig {
		t.Fatalf("WithProcessor: copy has %p, original %p, want %p and %p", m2.Processor(), m.Processor(), p, orig)
	}
	imgs := []image.Image{gray(40)}
	testdata.SamePixels(t, "copy", imgs, m2.Preprocess, p.PreprocessBatch)
	want, err := p.PreprocessBatch(imgs)
	if err != nil {
		t.Fatal(err)
	}
	old, err := m.Preprocess(imgs)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(old.Data(), want.Data()) {
		t.Error("original preprocesses with the copy's processor")
	}
	ctx := context.Background()
	if _, err := m.WithProcessor(nil).EmbedImages(ctx, imgs); !errors.Is(err, ErrInput) {
		t.Errorf("EmbedImages without a processor: %v, want ErrInput", err)
	}
}
