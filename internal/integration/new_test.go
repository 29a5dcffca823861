package integration

import (
	"errors"
	"io"
	"testing"

	"github.com/goformer/goformer/blip"
	"github.com/goformer/goformer/blip2"
	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/clip"
	"github.com/goformer/goformer/internal/expected"
	"github.com/goformer/goformer/llava"
	"github.com/goformer/goformer/llm"
	"github.com/goformer/goformer/vit"
	"github.com/goformer/goformer/wav2vec2"
	"github.com/goformer/goformer/whisper"
)

// TestNewNeverOwnsTheStore checks the families' shared New(config,
// weights) on their fixtures: it builds the model from the fixture's
// LoadConfig and a store of the test's, closing the model leaves every
// tensor of the store readable, and New without a store is an error.
func TestNewNeverOwnsTheStore(t *testing.T) {
	t.Run("vit", func(t *testing.T) { checkNew(t, "vit", vit.LoadConfig, vit.New) })
	t.Run("clip", func(t *testing.T) { checkNew(t, "clip", clip.LoadConfig, clip.New) })
	t.Run("whisper", func(t *testing.T) { checkNew(t, "whisper", whisper.LoadConfig, whisper.New) })
	t.Run("blip", func(t *testing.T) { checkNew(t, "blip-caption", blip.LoadConfig, blip.New) })
	t.Run("blip2", func(t *testing.T) { checkNew(t, "blip2", blip2.LoadConfig, blip2.New) })
	t.Run("wav2vec2", func(t *testing.T) { checkNew(t, "wav2vec2", wav2vec2.LoadConfig, wav2vec2.New) })
	t.Run("llava", func(t *testing.T) { checkNew(t, "llava", llava.LoadConfig, llava.New) })
	t.Run("llm", func(t *testing.T) {
		checkNew(t, "llava", llm.LoadConfig, func(c llm.Config, w checkpoint.Weights) (*llm.Model, error) {
			return llm.New(c, w.Sub("language_model"))
		})
	})
}

func checkNew[C any, M io.Closer](t *testing.T, fixture string, loadConfig func(string) (C, error), newModel func(C, checkpoint.Weights) (M, error)) {
	store, cfg := expected.StoreAndConfig(t, modelDir(t, fixture), loadConfig)
	m, err := newModel(cfg, store.Root())
	if err != nil {
		t.Fatal(err)
	}
	expected.CloseKeepsStore(t, m, store)
	if _, err := newModel(cfg, checkpoint.Weights{}); !errors.Is(err, checkpoint.ErrMissingWeights) {
		t.Errorf("New without a store: %v, want checkpoint.ErrMissingWeights", err)
	}
}
