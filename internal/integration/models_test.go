package integration

import (
	"bytes"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"testing"

	"github.com/goformer/goformer/audio"
	"github.com/goformer/goformer/blip"
	"github.com/goformer/goformer/clip"
	"github.com/goformer/goformer/gpt2"
	"github.com/goformer/goformer/imageproc"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/vit"
	"github.com/goformer/goformer/wav2vec2"
	"github.com/goformer/goformer/whisper"
)

// modelDir returns fixtures/<name>/model, skipping (or failing under CI)
// when the shared data is absent.
func modelDir(tb testing.TB, name string) string {
	tb.Helper()
	return filepath.Join(testdata.Fixture(tb, name), "model")
}

// models are the fixture models of every family, loaded once per test
// binary and shared by the tests, as a server would share them.
type models struct {
	vit        *vit.Model
	clip       *clip.Model
	blipCap    *blip.Model
	blipVQA    *blip.Model
	vitgpt2    *gpt2.Captioner
	wav2vec2   *wav2vec2.Model
	whisper    *whisper.Model
	images     map[string]image.Image
	imageNames []string
	texts      []string
	questions  []string
	jfk        []float32
}

var loaded testdata.Lazy[*models]

// imageNames are the media images the shared tests run on: the fixtures'
// images (RGB, RGBA, grayscale) plus a JPEG and a paletted PNG.
var imageNames = []string{"chelsea.png", "astronaut.png", "coffee.png", "page.png", "rocket.jpg", "palette_color.png"}

// loadModels loads every fixture model once.
func loadModels(tb testing.TB) *models {
	tb.Helper()
	testdata.Dir(tb) // skip or fail early without the data
	return loaded.Get(tb, func() (*models, error) {
		m, err := doLoad()
		if err != nil {
			return nil, fmt.Errorf("loading the fixture models: %w", err)
		}
		return m, nil
	})
}

func doLoad() (*models, error) {
	root, _ := testdata.Root()
	fx := func(name string) string { return filepath.Join(root, "fixtures", name, "model") }
	m := &models{images: map[string]image.Image{}, imageNames: imageNames}
	var err error
	if m.vit, err = vit.Load(fx("vit")); err != nil {
		return nil, err
	}
	if m.clip, err = clip.Load(fx("clip")); err != nil {
		return nil, err
	}
	if m.blipCap, err = blip.Load(fx("blip-caption")); err != nil {
		return nil, err
	}
	if m.blipVQA, err = blip.Load(fx("blip-vqa")); err != nil {
		return nil, err
	}
	if m.vitgpt2, err = gpt2.LoadCaptioner(fx("vit-gpt2")); err != nil {
		return nil, err
	}
	if m.wav2vec2, err = wav2vec2.Load(fx("wav2vec2")); err != nil {
		return nil, err
	}
	if m.whisper, err = whisper.Load(fx("whisper")); err != nil {
		return nil, err
	}
	for _, name := range imageNames {
		raw, err := os.ReadFile(filepath.Join(root, "media", "images", name))
		if err != nil {
			return nil, err
		}
		img, err := imageproc.Decode(bytes.NewReader(raw))
		if err != nil {
			return nil, err
		}
		m.images[name] = img
	}
	var clipCases struct {
		Texts []string `json:"texts"`
	}
	if err := testdata.DecodeJSON(filepath.Join(root, "fixtures", "clip", "cases.json"), &clipCases); err != nil {
		return nil, err
	}
	m.texts = clipCases.Texts
	var vqaCases struct {
		QA []struct {
			Question string `json:"question"`
		} `json:"qa"`
	}
	if err := testdata.DecodeJSON(filepath.Join(root, "fixtures", "blip-vqa", "cases.json"), &vqaCases); err != nil {
		return nil, err
	}
	for _, q := range vqaCases.QA {
		m.questions = append(m.questions, q.Question)
	}
	if m.jfk, err = audio.Load16kFile(filepath.Join(root, "media", "audio", "jfk16k.wav")); err != nil {
		return nil, err
	}
	return m, nil
}
