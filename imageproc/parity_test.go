package imageproc

import (
	"encoding/json"
	"image"
	"path/filepath"
	"slices"
	"testing"

	"github.com/goformer/goformer/internal/expected"
	"github.com/goformer/goformer/internal/testdata"
)

// fixtureImages returns the image file names of a fixture's cases.json in
// order: its "images" list, else the "image" fields of the first list of
// objects that has n of them (vit-gpt2's "captions", blip-vqa's "qa").
func fixtureImages(t *testing.T, casesPath string, n int) []string {
	t.Helper()
	var top map[string]json.RawMessage
	testdata.ReadJSON(t, casesPath, &top)
	if raw, ok := top["images"]; ok {
		var names []string
		if err := json.Unmarshal(raw, &names); err != nil {
			t.Fatalf("%s: images: %v", casesPath, err)
		}
		return names
	}
	for _, raw := range top {
		var objs []struct {
			Image string `json:"image"`
		}
		if json.Unmarshal(raw, &objs) != nil || len(objs) != n {
			continue
		}
		names := make([]string, 0, n)
		for _, o := range objs {
			if o.Image == "" {
				break
			}
			names = append(names, o.Image)
		}
		if len(names) == n {
			return names
		}
	}
	t.Fatalf("%s: no list of %d images", casesPath, n)
	return nil
}

// loadImageFile decodes an image of the shared media directory.
func loadImageFile(t testing.TB, name string) image.Image {
	t.Helper()
	return testdata.DecodeFile(t, testdata.Path(t, "media", "images", name), Decode)
}

// checkPixelValues compares a processor's output for every fixture image
// with the reference pixel_values, one image at a time and as a batch.
func checkPixelValues(t *testing.T, fixture string) {
	dir := testdata.Fixture(t, fixture)
	p, err := LoadProcessor(filepath.Join(dir, "model"))
	if err != nil {
		t.Fatal(err)
	}
	want := expected.Tensor(t, fixture, "pixel_values")
	ws := want.Shape()
	names := fixtureImages(t, filepath.Join(dir, "cases.json"), ws[0])
	if len(names) != ws[0] {
		t.Fatalf("%d images in cases.json, %d in pixel_values", len(names), ws[0])
	}
	imgs := make([]image.Image, len(names))
	for i, name := range names {
		imgs[i] = loadImageFile(t, name)
		got, err := p.Preprocess(imgs[i])
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		exp := want.Index(i)
		if !slices.Equal(got.Shape(), exp.Shape()) {
			t.Fatalf("%s: shape %v, want %v", name, got.Shape(), exp.Shape())
		}
		d, at := testdata.MaxAbsDiff(got.Data(), exp.Data())
		t.Logf("%s %s: max|Δ| pixel_values = %.3g", fixture, name, d)
		if d > 1e-5 {
			sh := exp.Shape()
			c, y, x := at/(sh[1]*sh[2]), at/sh[2]%sh[1], at%sh[2]
			t.Errorf("%s: pixel_values max|Δ| = %g at c=%d y=%d x=%d (got %g, want %g)", name, d, c, y, x, got.Data()[at], exp.Data()[at])
		}
	}
	batch, err := p.PreprocessBatch(imgs)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(batch.Shape(), ws) {
		t.Fatalf("batch shape %v, want %v", batch.Shape(), ws)
	}
	if d, _ := testdata.MaxAbsDiff(batch.Data(), want.Data()); d > 1e-5 {
		t.Errorf("batch pixel_values max|Δ| = %g", d)
	}
}

func TestParity_vit(t *testing.T)          { checkPixelValues(t, "vit") }
func TestParity_clip(t *testing.T)         { checkPixelValues(t, "clip") }
func TestParity_blip_caption(t *testing.T) { checkPixelValues(t, "blip-caption") }
func TestParity_blip_vqa(t *testing.T)     { checkPixelValues(t, "blip-vqa") }
func TestParity_vit_gpt2(t *testing.T)     { checkPixelValues(t, "vit-gpt2") }

// TestParity_vit_interpolated checks the processor at the other
// resolution listed under "interpolated" in the vit fixture's cases.json.
func TestParity_vit_interpolated(t *testing.T) {
	var cases struct {
		Interpolated struct {
			Images []string `json:"images"`
			Size   int      `json:"size"`
		} `json:"interpolated"`
	}
	dir := testdata.Cases(t, "vit", &cases)
	if cases.Interpolated.Size == 0 {
		testdata.Missing(t, "the vit fixture has no interpolated case")
	}
	cfg, err := LoadProcessorConfig(filepath.Join(dir, "model", "preprocessor_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Size = Size{Height: cases.Interpolated.Size, Width: cases.Interpolated.Size}
	p, err := NewProcessor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := expected.Tensor(t, "vit", "pixel_values_interpolated")
	for i, name := range cases.Interpolated.Images {
		got, err := p.Preprocess(loadImageFile(t, name))
		if err != nil {
			t.Fatal(err)
		}
		d, _ := testdata.MaxAbsDiff(got.Data(), want.Index(i).Data())
		t.Logf("%s @%d: max|Δ| pixel_values = %.3g", name, cases.Interpolated.Size, d)
		if d > 1e-5 {
			t.Errorf("%s: max|Δ| = %g", name, d)
		}
	}
}
