package vit

import (
	"context"
	"errors"
	"image"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/goformer/goformer/imageproc"
	"github.com/goformer/goformer/internal/testdata"
)

// TestWithProcessor checks the default processor of New and that
// WithProcessor returns a copy preprocessing with the given processor,
// leaving the original as it was.
func TestWithProcessor(t *testing.T) {
	m := tinyModel(t)
	def := m.Processor()
	if def == nil {
		t.Fatal("New made a model without a processor")
	}
	dc := def.Config()
	if dc.Type != imageproc.ViTImageProcessorType || dc.Size != (imageproc.Size{Height: 32, Width: 32}) {
		t.Errorf("default processor %s at %+v, want ViTImageProcessor at the image size 32", dc.Type, dc.Size)
	}
	pc := dc
	pc.DoNormalize = false
	p, err := imageproc.NewProcessor(pc)
	if err != nil {
		t.Fatal(err)
	}
	m2 := m.WithProcessor(p)
	if m2 == m || m2.Processor() != p || m.Processor() != def {
		t.Fatalf("WithProcessor: copy has %p, original %p, want %p and %p", m2.Processor(), m.Processor(), p, def)
	}
	ctx := context.Background()
	imgs := []image.Image{testdata.Quadrants()}
	logits := func(m *Model) []float32 {
		t.Helper()
		out, err := m.ForwardImages(ctx, imgs, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return out.Logits.Data()
	}
	px, err := p.PreprocessBatch(imgs)
	if err != nil {
		t.Fatal(err)
	}
	want, err := m.Logits(ctx, px)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := testdata.MaxAbsDiff(logits(m2), want.Data()); d != 0 {
		t.Errorf("copy's logits differ from those of its processor's pixels by %g", d)
	}
	if d, _ := testdata.MaxAbsDiff(logits(m), want.Data()); d == 0 {
		t.Error("original's logits are those of the copy's processor")
	}
	if _, err := m.WithProcessor(nil).Classify(ctx, imgs[0], 1); !errors.Is(err, ErrInput) {
		t.Errorf("Classify without a processor: %v, want ErrInput", err)
	}
}

// TestLoadProcessor checks that Load takes the directory's
// preprocessor_config.json, and ViTImageProcessor defaults at the model's
// image size without one.
func TestLoadProcessor(t *testing.T) {
	src := filepath.Join(testdata.Fixture(t, "vit"), "model")
	dir := t.TempDir()
	for _, f := range []string{"config.json", "model.safetensors"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	m, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	got := m.Processor().Config()
	n := m.Config.ImageSize
	if got.Type != imageproc.ViTImageProcessorType || got.Size != (imageproc.Size{Height: n, Width: n}) || got.Resample != imageproc.Bilinear {
		t.Errorf("processor without preprocessor_config.json: %s %+v %v, want ViTImageProcessor %dx%d BILINEAR", got.Type, got.Size, got.Resample, n, n)
	}

	// A preprocessor_config.json that differs from the defaults.
	pc := `{"image_processor_type": "ViTImageProcessor", "size": {"height": 48, "width": 40}, "resample": 3, "image_mean": [0.25, 0.5, 0.75]}`
	if err := os.WriteFile(filepath.Join(dir, "preprocessor_config.json"), []byte(pc), 0o644); err != nil {
		t.Fatal(err)
	}
	want, err := imageproc.ParseProcessorConfig([]byte(pc))
	if err != nil {
		t.Fatal(err)
	}
	m2, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	got = m2.Processor().Config()
	if got.Size != want.Size || got.Resample != want.Resample || !slices.Equal(got.ImageMean, want.ImageMean) {
		t.Errorf("processor %+v %v %v, want the directory's %+v %v %v", got.Size, got.Resample, got.ImageMean, want.Size, want.Resample, want.ImageMean)
	}

	// A malformed one is an error naming it.
	if err := os.WriteFile(filepath.Join(dir, "preprocessor_config.json"), []byte(`{"size": -3}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); !errors.Is(err, imageproc.ErrProcessorConfig) || !strings.Contains(err.Error(), "preprocessor_config.json") {
		t.Errorf("malformed preprocessor_config.json: %v, want imageproc.ErrProcessorConfig naming the file", err)
	}
}
