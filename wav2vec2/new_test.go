package wav2vec2

import (
	"context"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/internal/expected"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

// TestNewAndWith builds the wav2vec2 fixture with New over a store of the
// caller's: its logits equal Load's bit for bit, it transcribes only once
// given a tokenizer (WithTokenizer, as Load's), its Close leaves the store
// open, and a store without a CTC head is refused.
func TestNewAndWith(t *testing.T) {
	dir := filepath.Join(testdata.Fixture(t, "wav2vec2"), "model")
	ctx := context.Background()
	loaded, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer loaded.Close()
	store, cfg := expected.StoreAndConfig(t, dir, LoadConfig)
	m, err := New(cfg, store.Root())
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	pcm := make([]float32, 16000)
	for i := range pcm {
		pcm[i] = float32(r.NormFloat64() * 0.1)
	}
	want, err := loaded.Logits(ctx, pcm)
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Logits(ctx, pcm)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Contiguous().Data(), want.Contiguous().Data()) {
		t.Error("New's logits differ from Load's")
	}
	if _, err := m.Transcribe(ctx, pcm, Options{}); !errors.Is(err, errNoTokenizer) {
		t.Errorf("Transcribe without a tokenizer: %v", err)
	}
	if _, err := m.TranscribeBatch(ctx, [][]float32{pcm}, Options{}); !errors.Is(err, errNoTokenizer) {
		t.Errorf("TranscribeBatch without a tokenizer: %v", err)
	}
	withTok := m.WithTokenizer(loaded.Tokenizer())
	if m.Tokenizer() != nil || withTok.Tokenizer() != loaded.Tokenizer() {
		t.Error("WithTokenizer changed the original or did not set the copy's")
	}
	wantRes, err := loaded.Transcribe(ctx, pcm, Options{})
	if err != nil {
		t.Fatal(err)
	}
	gotRes, err := withTok.Transcribe(ctx, pcm, Options{})
	if err != nil || gotRes.Text != wantRes.Text {
		t.Errorf("New+WithTokenizer transcribes %q (%v), Load's model %q", gotRes.Text, err, wantRes.Text)
	}

	fe := DefaultFeatureExtractorConfig()
	fe.DoNormalize = false
	raw, err := withTok.WithFeatureExtractor(fe)
	if err != nil {
		t.Fatal(err)
	}
	if iv, _ := raw.InputValues(pcm); !slices.Equal(iv, pcm) {
		t.Error("WithFeatureExtractor(DoNormalize: false): the input values are not the samples")
	}
	if iv, _ := withTok.InputValues(pcm); slices.Equal(iv, pcm) {
		t.Error("WithFeatureExtractor changed the original model")
	}
	if _, err := m.WithFeatureExtractor(FeatureExtractorConfig{SamplingRate: 0, FeatureSize: 1}); !errors.Is(err, nn.ErrConfig) {
		t.Errorf("WithFeatureExtractor of a zero rate: %v", err)
	}

	// Close leaves the caller's store open.
	expected.CloseKeepsStore(t, withTok, store)
	if again, err := m.Logits(ctx, pcm); err != nil || !slices.Equal(again.Contiguous().Data(), want.Contiguous().Data()) {
		t.Errorf("after Close, New's model on the caller's store: %v", err)
	}

	if _, err := New(cfg, checkpoint.Weights{}); !errors.Is(err, checkpoint.ErrMissingWeights) {
		t.Errorf("New without weights: %v", err)
	}
	ts := map[string]*tensor.Tensor{}
	for _, name := range store.Names() {
		if name != "lm_head.weight" && name != "lm_head.bias" {
			ts[name], _ = store.Get(name)
		}
	}
	if _, err := New(cfg, checkpoint.NewStore("no-head", ts).Root()); !errors.Is(err, checkpoint.ErrMissingWeights) {
		t.Errorf("New without a CTC head: %v", err)
	}
}
