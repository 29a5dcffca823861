package blip

import (
	"image"
	"testing"

	"github.com/goformer/goformer/imageproc"
	"github.com/goformer/goformer/internal/testdata"
)

// TestWithProcessor checks that WithProcessor returns a copy that
// preprocesses with the given processor, leaving the original as it was.
func TestWithProcessor(t *testing.T) {
	m := tinyModel(t, TaskCaptioning)
	if m.Processor() != nil {
		t.Fatal("New made a model with a processor")
	}
	img := image.NewRGBA(image.Rect(0, 0, 30, 20))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	imgs := []image.Image{img}
	if _, err := m.PixelValues(imgs); err == nil {
		t.Error("PixelValues without a processor: no error")
	}
	n := m.Config().Vision.ImageSize
	pc := imageproc.DefaultProcessorConfig(imageproc.BlipImageProcessorType)
	pc.Size = imageproc.Size{Height: n, Width: n}
	p, err := imageproc.NewProcessor(pc)
	if err != nil {
		t.Fatal(err)
	}
	m2 := m.WithProcessor(p)
	if m2 == m || m2.Processor() != p || m.Processor() != nil || m2.Task() != m.Task() {
		t.Fatalf("WithProcessor: copy has %p (task %v), original %p (task %v), want %p and nil", m2.Processor(), m2.Task(), m.Processor(), m.Task(), p)
	}
	testdata.SamePixels(t, "copy", imgs, m2.PixelValues, p.PreprocessBatch)
	if _, err := m2.WithProcessor(nil).PixelValues(imgs); err == nil {
		t.Error("PixelValues after WithProcessor(nil): no error")
	}
	if _, err := m2.PixelValues(imgs); err != nil {
		t.Errorf("WithProcessor(nil) changed its receiver: %v", err)
	}
}
