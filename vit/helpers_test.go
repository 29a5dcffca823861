package vit

import (
	"context"
	"image"
	"os"
	"path/filepath"
	"testing"

	"github.com/goformer/goformer/imageproc"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
)

// loadImageFile decodes an image of the shared media directory.
func loadImageFile(t testing.TB, name string) image.Image {
	t.Helper()
	return testdata.DecodeFile(t, testdata.Path(t, "media", "images", name), imageproc.Decode)
}

// loadImageFiles decodes images of the shared media directory.
func loadImageFiles(t testing.TB, names []string) []image.Image {
	t.Helper()
	imgs := make([]image.Image, len(names))
	for i, name := range names {
		imgs[i] = loadImageFile(t, name)
	}
	return imgs
}

// binLogits loads the model of the fixture folder dir from its
// pytorch_model.bin alone (a folder of links to it and the configs; the
// model is closed with the test) and returns its logits for pixels. It
// fails the test when the fixture has no pytorch_model.bin.
func binLogits(t *testing.T, dir string, pixels *tensor.Tensor, opts ...Option) *tensor.Tensor {
	t.Helper()
	model := filepath.Join(dir, "model")
	if _, err := os.Stat(filepath.Join(model, "pytorch_model.bin")); err != nil {
		t.Fatalf("fixture lacks pytorch_model.bin: %v", err)
	}
	only := t.TempDir()
	for _, name := range []string{"config.json", "preprocessor_config.json", "pytorch_model.bin"} {
		if err := os.Symlink(filepath.Join(model, name), filepath.Join(only, name)); err != nil {
			t.Fatal(err)
		}
	}
	m, err := Load(only, opts...)
	if err != nil {
		t.Fatalf("pytorch_model.bin: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	logits, err := m.Logits(context.Background(), pixels)
	if err != nil {
		t.Fatal(err)
	}
	return logits
}

// interpolatedPixels preprocesses the images of the fixture's
// interpolate_pos_encoding case at its size with m's processor otherwise.
func interpolatedPixels(t *testing.T, m *Model, c vitCases) *tensor.Tensor {
	t.Helper()
	pc := m.Processor().Config()
	pc.Size = imageproc.Size{Height: c.Interpolated.Size, Width: c.Interpolated.Size}
	proc, err := imageproc.NewProcessor(pc)
	if err != nil {
		t.Fatal(err)
	}
	px, err := proc.PreprocessBatch(loadImageFiles(t, c.Interpolated.Images))
	if err != nil {
		t.Fatal(err)
	}
	return px
}
