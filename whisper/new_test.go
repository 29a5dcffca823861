package whisper

import (
	"context"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/internal/expected"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/tensor"
)

// TestNew builds the whisper fixture with New over a store of the
// caller's and checks it against Load's model: identical encoder output
// and decoded tokens (once given Load's tokenizer), a Close that leaves
// the store open, and every weight problem reported.
func TestNew(t *testing.T) {
	dir := filepath.Join(testdata.Fixture(t, "whisper"), "model")
	ctx := context.Background()
	loaded := testdata.LoadModel(t, filepath.Dir(dir), Load)
	store, cfg := expected.StoreAndConfig(t, dir, LoadConfig)
	m, err := New(cfg, store.Root())
	if err != nil {
		t.Fatal(err)
	}
	if m.Tokenizer() != nil {
		t.Error("New's model has a tokenizer")
	}
	mel := expected.Normal(rand.New(rand.NewPCG(5, 6)), 1, cfg.NumMelBins, 3000)
	want, err := loaded.Encode(ctx, mel)
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Encode(ctx, mel)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Contiguous().Data(), want.Contiguous().Data()) {
		t.Error("New's encoder output differs from Load's")
	}
	o := DecodingOptions{Language: "en", SampleLen: 8}
	wantDec, err := loaded.Decode(ctx, mel, o)
	if err != nil {
		t.Fatal(err)
	}
	gotDec, err := m.WithTokenizer(loaded.Tokenizer()).Decode(ctx, mel, o)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(gotDec[0].Tokens, wantDec[0].Tokens) {
		t.Errorf("New's tokens %v, Load's %v", gotDec[0].Tokens, wantDec[0].Tokens)
	}
	// Close leaves the caller's store open: a second model still runs on it.
	expected.CloseKeepsStore(t, m, store)
	m2, err := New(cfg, store.Root())
	if err != nil {
		t.Fatal(err)
	}
	if again, err := m2.Encode(ctx, mel); err != nil || !slices.Equal(again.Contiguous().Data(), want.Contiguous().Data()) {
		t.Errorf("after Close, a model on the same store: %v", err)
	}

	if _, err := New(cfg, checkpoint.Weights{}); !errors.Is(err, checkpoint.ErrMissingWeights) {
		t.Errorf("New without weights: %v, want ErrMissingWeights", err)
	}
	ts := map[string]*tensor.Tensor{}
	for _, name := range store.Names() {
		if name != "model.decoder.layer_norm.weight" && name != "model.encoder.conv1.bias" {
			ts[name], _ = store.Get(name)
		}
	}
	_, err = New(cfg, checkpoint.NewStore("partial", ts).Root())
	if !errors.Is(err, checkpoint.ErrMissingWeights) {
		t.Fatalf("New with two tensors missing: %v, want ErrMissingWeights", err)
	}
	for _, name := range []string{"model.decoder.layer_norm.weight", "model.encoder.conv1.bias"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("the error does not name %s: %v", name, err)
		}
	}
}
