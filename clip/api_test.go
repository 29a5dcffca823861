package clip

import (
	"context"
	"errors"
	"image"
	"image/color"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/internal/expected"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

func TestBadInput(t *testing.T) {
	f := loadClipFixture(t)
	m := f.model
	ctx := context.Background()
	c := m.Config()
	long := make([]int, c.Text.MaxPositionEmbeddings+1)
	long[len(long)-1] = c.Text.EosTokenID
	cases := map[string]func() error{
		"no sequences":    func() error { _, err := m.TextFeatures(ctx, nil, nil); return err },
		"empty sequence":  func() error { _, err := m.TextFeatures(ctx, [][]int{{}}, nil); return err },
		"too long":        func() error { _, err := m.TextFeatures(ctx, [][]int{long}, nil); return err },
		"id out of range": func() error { _, err := m.TextFeatures(ctx, [][]int{{c.Text.VocabSize}}, nil); return err },
		"negative id":     func() error { _, err := m.TextFeatures(ctx, [][]int{{-1}}, nil); return err },
		"mask count":      func() error { _, err := m.TextFeatures(ctx, [][]int{{1, 2}}, [][]int{}); return err },
		"mask length":     func() error { _, err := m.TextFeatures(ctx, [][]int{{1, 2}}, [][]int{{1}}); return err },
		"nil pixels":      func() error { _, err := m.ImageFeatures(ctx, nil); return err },
		"pixels rank":     func() error { _, err := m.ImageFeatures(ctx, tensor.New(3, 224, 224)); return err },
		"pixels size": func() error {
			_, err := m.ImageFeatures(ctx, tensor.New(1, c.Vision.NumChannels, c.Vision.ImageSize+1, c.Vision.ImageSize))
			return err
		},
		"no images":   func() error { _, err := m.EmbedImages(ctx, nil); return err },
		"nil image":   func() error { _, err := m.EmbedImages(ctx, []image.Image{nil}); return err },
		"no texts":    func() error { _, err := m.EmbedTexts(ctx, nil); return err },
		"no labels":   func() error { _, err := m.ZeroShot(ctx, gray(8), nil, ZeroShotOptions{}); return err },
		"empty label": func() error { _, err := m.ZeroShot(ctx, gray(8), []string{"cat", " "}, ZeroShotOptions{}); return err },
		"bad template": func() error {
			_, err := m.ZeroShot(ctx, gray(8), []string{"cat"}, ZeroShotOptions{Template: "a photo"})
			return err
		},
		"negative top-k": func() error {
			_, err := m.ZeroShot(ctx, gray(8), []string{"cat"}, ZeroShotOptions{TopK: -1})
			return err
		},
		"embedding size": func() error { _, err := m.SimilarityOf([][]float32{{1}}, [][]float32{{1}}); return err },
		"no embeddings":  func() error { _, err := m.SimilarityOf(nil, nil); return err },
	}
	for name, fn := range cases {
		if err := fn(); !errors.Is(err, ErrInput) {
			t.Errorf("%s: got %v, want ErrInput", name, err)
		}
	}

	// A cancelled context stops the towers.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := m.TextFeatures(cctx, f.cases.InputIDs, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled text: %v", err)
	}
	if _, err := m.ImageFeatures(cctx, f.tensor(t, "pixel_values")); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled image: %v", err)
	}
}

func gray(n int) image.Image {
	img := image.NewGray(image.Rect(0, 0, n, n))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 7)
	}
	return img
}

func TestZeroShotTemplate(t *testing.T) {
	f := loadClipFixture(t)
	m := f.model
	ctx := context.Background()
	labels := []string{"cat", "dog", "astronaut"}
	p, err := ZeroShotOptions{Template: "a photo of a {label}."}.Prompts(labels)
	if err != nil || p[2] != "a photo of a astronaut." {
		t.Fatalf("prompts %q, %v", p, err)
	}
	if p, _ := (ZeroShotOptions{Template: "{}!"}).Prompts(labels); p[0] != "cat!" {
		t.Errorf("{} template: %q", p)
	}
	img := f.images(t)[0]
	res, err := m.ZeroShot(ctx, img, labels, ZeroShotOptions{Template: "a photo of a {label}", TopK: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 {
		t.Fatalf("top-2 gave %d labels", len(res))
	}
	// Reference: softmax over the prompts' logits, computed by hand.
	te, err := m.EmbedTexts(ctx, []string{"a photo of a cat", "a photo of a dog", "a photo of a astronaut"})
	if err != nil {
		t.Fatal(err)
	}
	ie, err := m.EmbedImages(ctx, []image.Image{img})
	if err != nil {
		t.Fatal(err)
	}
	logits := make([]float64, 3)
	var mx, sum float64 = math.Inf(-1), 0
	for j := range te {
		logits[j] = float64(tensor.Dot(te[j], ie[0]) * m.LogitScale())
		mx = math.Max(mx, logits[j])
	}
	for j := range logits {
		sum += math.Exp(logits[j] - mx)
	}
	for _, r := range res {
		j := map[string]int{"cat": 0, "dog": 1, "astronaut": 2}[r.Label]
		if want := math.Exp(logits[j]-mx) / sum; math.Abs(float64(r.Probability)-want) > 1e-5 {
			t.Errorf("%s: probability %v, want %v", r.Label, r.Probability, want)
		}
	}
	if res[0].Probability < res[1].Probability {
		t.Errorf("not sorted: %+v", res)
	}
}

// TestConcurrent runs the towers from several goroutines; results must equal
// the sequential ones (run with -race to check for data races).
func TestConcurrent(t *testing.T) {
	f := loadClipFixture(t)
	m := f.model
	ctx := context.Background()
	pix := f.tensor(t, "pixel_values")
	wantImg, err := m.ImageFeatures(ctx, pix)
	if err != nil {
		t.Fatal(err)
	}
	wantTxt, err := m.EmbedTexts(ctx, f.cases.Texts)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if g%2 == 0 {
				got, err := m.ImageFeatures(ctx, pix)
				if err != nil || testdata.MaxAbsDiffRows(got.Embeds, wantImg.Embeds) != 0 {
					errs <- "image features differ under concurrency"
				}
				return
			}
			got, err := m.EmbedTexts(ctx, f.cases.Texts)
			if err != nil || testdata.MaxAbsDiffRows(got, wantTxt) != 0 {
				errs <- "text embeddings differ under concurrency"
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestConfig(t *testing.T) {
	cfg, err := ParseConfig("c", []byte(`{"model_type":"clip","projection_dim":256,
		"text_config":{"hidden_size":128,"num_attention_heads":2},
		"text_config_dict":{"num_hidden_layers":3},
		"vision_config_dict":{"patch_size":16,"image_size":64}}`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ProjectionDim != 256 || cfg.Text.HiddenSize != 128 || cfg.Text.NumAttentionHeads != 2 ||
		cfg.Text.NumHiddenLayers != 3 || cfg.Text.IntermediateSize != 2048 ||
		cfg.Vision.PatchSize != 16 || cfg.Vision.ImageSize != 64 || cfg.Vision.HiddenSize != 768 {
		t.Errorf("parsed %+v", cfg)
	}
	for name, js := range map[string]string{
		"not json":    `{`,
		"model type":  `{"model_type":"bert"}`,
		"heads":       `{"text_config":{"hidden_size":100,"num_attention_heads":3}}`,
		"patch":       `{"vision_config":{"image_size":100,"patch_size":32}}`,
		"activation":  `{"vision_config":{"hidden_act":"swish-ish"}}`,
		"zero layers": `{"text_config":{"num_hidden_layers":0}}`,
	} {
		if _, err := ParseConfig(name, []byte(js)); err == nil {
			t.Errorf("%s: no error", name)
		} else if name != "model type" && !errors.Is(err, nn.ErrConfig) {
			t.Errorf("%s: %v does not wrap ErrConfig", name, err)
		}
	}

	// Weights that do not match the config are all listed.
	st, fc := expected.StoreAndConfig(t, filepath.Join(testdata.Fixture(t, "clip"), "model"), LoadConfig)
	fc.Vision.IntermediateSize *= 2
	fc.Text.NumHiddenLayers++
	_, err = New(fc, st.Root())
	if !errors.Is(err, checkpoint.ErrMissingWeights) || !strings.Contains(err.Error(), "vision_model.encoder.layers.0.mlp.fc1.weight") ||
		!strings.Contains(err.Error(), "text_model.encoder.layers.") {
		t.Errorf("got %v", err)
	}
}

func TestEmbedImagesFormats(t *testing.T) {
	f := loadClipFixture(t)
	m := f.model
	// Grayscale, paletted and RGBA images go through the processor's RGB
	// conversion.
	pal := image.NewPaletted(image.Rect(0, 0, 40, 30), color.Palette{color.Black, color.White})
	rgba := image.NewNRGBA(image.Rect(0, 0, 300, 200))
	for i := range rgba.Pix {
		rgba.Pix[i] = uint8(i)
	}
	emb, err := m.EmbedImages(context.Background(), []image.Image{gray(50), pal, rgba})
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range emb {
		var n float64
		for _, v := range e {
			n += float64(v) * float64(v)
		}
		if math.Abs(n-1) > 1e-5 {
			t.Errorf("image %d: squared norm %v", i, n)
		}
	}
}
