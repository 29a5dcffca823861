package imageproc

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestLoadProcessorIfPresent(t *testing.T) {
	dir := t.TempDir()
	p, err := LoadProcessorIfPresent(dir)
	if p != nil || err != nil {
		t.Fatalf("no preprocessor_config.json: got %v, %v; want nil, nil", p, err)
	}
	path := filepath.Join(dir, "preprocessor_config.json")
	if err := os.WriteFile(path, []byte(`{"image_processor_type": "ViTImageProcessor", "size": 32}`), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err = LoadProcessorIfPresent(dir)
	if err != nil || p == nil {
		t.Fatalf("with preprocessor_config.json: got %v, %v", p, err)
	}
	if h, w := p.OutputSize(64, 48); h != 32 || w != 32 {
		t.Fatalf("output size %dx%d, want 32x32 from the file", h, w)
	}
	if err := os.WriteFile(path, []byte(`{"rescale_factor": "x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadProcessorIfPresent(dir); !errors.Is(err, ErrProcessorConfig) {
		t.Fatalf("malformed file: error %v, want one wrapping ErrProcessorConfig", err)
	}
}
