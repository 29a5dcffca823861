package whisper

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/goformer/goformer/checkpoint"
	"github.com/goformer/goformer/internal/expected"
	"github.com/goformer/goformer/internal/testdata"
	"github.com/goformer/goformer/nn"
	"github.com/goformer/goformer/tensor"
)

// writeSafetensors writes F32 tensors in the safetensors format.
func writeSafetensors(t *testing.T, path string, ts map[string]*tensor.Tensor) {
	t.Helper()
	header := map[string]any{}
	var data []byte
	for name, x := range ts {
		start := len(data)
		for _, v := range x.Contiguous().Data() {
			data = binary.LittleEndian.AppendUint32(data, math.Float32bits(v))
		}
		header[name] = map[string]any{"dtype": "F32", "shape": x.Shape(), "data_offsets": []int{start, len(data)}}
	}
	h, _ := json.Marshal(header)
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(h)))
	out = append(append(out, h...), data...)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadErrors(t *testing.T) {
	fix := filepath.Join(testdata.Fixture(t, "whisper"), "model")
	if _, err := Load(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("loading a missing path succeeded")
	}
	// an empty directory
	if _, err := Load(t.TempDir()); !errors.Is(err, checkpoint.ErrNotFound) {
		t.Errorf("empty directory: %v", err)
	}
	// config without required fields
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"model_type": "whisper", "d_model": 64}`), 0o644)
	if _, err := Load(dir); !errors.Is(err, nn.ErrConfig) || !strings.Contains(err.Error(), "encoder_layers") {
		t.Errorf("incomplete config: %v", err)
	}
	// a checkpoint lacking tensors and with a mis-shaped one: every problem named
	dir = t.TempDir()
	cfg, _ := os.ReadFile(filepath.Join(fix, "config.json"))
	os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644)
	writeSafetensors(t, filepath.Join(dir, "model.safetensors"), map[string]*tensor.Tensor{
		"model.encoder.conv1.weight": tensor.New(3, 3, 3),
	})
	_, err := Load(dir)
	expected.MissingWeights(t, err, "model.encoder.conv1.weight", "model.decoder.embed_tokens.weight", "model.decoder.layers.1.fc2.bias")
	// a corrupt OpenAI checkpoint
	pt := filepath.Join(t.TempDir(), "model.pt")
	os.WriteFile(pt, []byte("this is not a pickle"), 0o644)
	if _, err := Load(pt); !errors.Is(err, checkpoint.ErrCorrupt) {
		t.Errorf("corrupt .pt: %v", err)
	}
}

func TestInputErrors(t *testing.T) {
	m := testdata.LoadModel(t, testdata.Fixture(t, "whisper"), Load)
	ctx := context.Background()
	for _, shape := range [][]int{{80, 2999}, {79, 3000}, {80}, {1, 2, 80, 3000}} {
		if _, err := m.Encode(ctx, tensor.New(shape...)); !errors.Is(err, tensor.ErrShape) {
			t.Errorf("Encode(%v): %v", shape, err)
		}
	}
	if _, err := m.Encode(ctx, nil); err == nil {
		t.Error("Encode(nil) succeeded")
	}
	enc := tensor.New(1, 1500, m.Config.DModel)
	dec, _ := m.NewDecoder(enc)
	if _, err := dec.Forward(ctx, [][]int{{m.Config.VocabSize}}, nil); err == nil {
		t.Error("an out-of-vocabulary id was accepted")
	}
	if _, err := dec.Forward(ctx, [][]int{{1}, {2}}, nil); err == nil {
		t.Error("a batch of 2 was accepted by a decoder of 1")
	}
	long := make([]int, m.Config.MaxTargetPositions+1)
	if _, err := dec.Forward(ctx, [][]int{long}, nil); err == nil {
		t.Error("tokens beyond the decoder context were accepted")
	}
	if _, err := m.NewDecoder(tensor.New(1, 1500, 7)); !errors.Is(err, tensor.ErrShape) {
		t.Errorf("NewDecoder with wrong width: %v", err)
	}
	mel := tensor.New(80, 3000)
	for _, o := range []DecodingOptions{
		{Task: "summarize"},
		{Language: "klingon"},
		{BeamSize: 2, BestOf: 2},
		{BestOf: 2},
		{Patience: 2},
		{LengthPenalty: Float(2)},
		{Temperature: -1},
		{Prompt: []int{-5}},
	} {
		if _, err := m.Decode(ctx, mel, o); err == nil {
			t.Errorf("Decode accepted %+v", o)
		}
	}
	if _, err := m.TranscribeMel(ctx, tensor.New(80, 100), Options{}); !errors.Is(err, tensor.ErrShape) {
		t.Errorf("TranscribeMel on a short spectrogram: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := m.Decode(cctx, mel, DecodingOptions{Language: "en"}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Decode: %v", err)
	}
}

func TestBatchDecode(t *testing.T) {
	m, get := loadFixture(t, "whisper", nil)
	feat := get("input_features")
	ctx := context.Background()
	silence := tensor.New(80, 3000)
	batch, err := tensor.Concat(0, feat, silence.MustReshape(1, 80, 3000))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []DecodingOptions{
		{Language: "en", SampleLen: 16},
		{SampleLen: 12, BeamSize: 2},
	} {
		got, err := m.Decode(ctx, batch, o)
		if err != nil {
			t.Fatal(err)
		}
		for i, mel := range []*tensor.Tensor{feat.Index(0), silence} {
			one, err := m.Decode(ctx, mel, o)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got[i].Tokens, one[0].Tokens) || got[i].Language != one[0].Language ||
				math.Abs(got[i].AvgLogprob-one[0].AvgLogprob) > 1e-4 || math.Abs(got[i].NoSpeechProb-one[0].NoSpeechProb) > 1e-5 {
				t.Errorf("%+v window %d: batched %+v, alone %+v", o, i, got[i], one[0])
			}
		}
	}
}

// TestConcurrentUse runs transcriptions of one model from several
// goroutines; results must equal the sequential one (and -race must stay
// quiet).
func TestConcurrentUse(t *testing.T) {
	m, get := loadFixture(t, "whisper", nil)
	pcm := get("audio").Contiguous().Data()
	opt := Options{Language: "en", Temperatures: []float64{0}, MaxTokens: 12, WordTimestamps: true}
	want, err := m.Transcribe(context.Background(), pcm, opt)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 3)
	for g := 0; g < 3; g++ {
		go func() {
			got, err := m.Transcribe(context.Background(), pcm, opt)
			if err == nil && got.Text != want.Text {
				err = errors.New("concurrent result differs: " + got.Text)
			}
			errs <- err
		}()
	}
	for g := 0; g < 3; g++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestEdgeInputs(t *testing.T) {
	m := testdata.LoadModel(t, testdata.Fixture(t, "whisper"), Load)
	ctx := context.Background()
	opt := Options{Language: "en", Temperatures: []float64{0}, MaxTokens: 8}
	res, err := m.Transcribe(ctx, nil, opt)
	if err != nil || len(res.Segments) != 0 || res.Text != "" {
		t.Errorf("empty audio: %+v %v", res, err)
	}
	res, err = m.Transcribe(ctx, make([]float32, 4000), opt)
	if err != nil || res == nil {
		t.Errorf("quarter second of silence: %v", err)
	}
	for _, s := range res.Segments {
		if s.Seek != 0 || s.Start < 0 {
			t.Errorf("segment %+v", s)
		}
	}
	if _, err := m.TranscribeReader(ctx, strings.NewReader("definitely not audio"), opt); err == nil {
		t.Error("garbage audio accepted")
	}
}

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
	encode := func(x *Model) (*tensor.Tensor, error) { return x.Encode(ctx, mel) }
	expected.SameValues(t, "encoder output of Load's and New's models", loaded, m, encode)
	expected.Same(t, "tokens of Load's and New's models", loaded, m.WithTokenizer(loaded.Tokenizer()), func(x *Model) ([]int, error) {
		r, err := x.Decode(ctx, mel, DecodingOptions{Language: "en", SampleLen: 8})
		if err != nil {
			return nil, err
		}
		return r[0].Tokens, nil
	})
	// Close leaves the caller's store open: a second model still runs on it.
	expected.CloseKeepsStore(t, m, store)
	m2, err := New(cfg, store.Root())
	if err != nil {
		t.Fatal(err)
	}
	expected.SameValues(t, "encoder output after New's model was closed", loaded, m2, encode)

	gone := []string{"model.decoder.layer_norm.weight", "model.encoder.conv1.bias"}
	_, err = New(cfg, expected.Without(t, store, gone...).Root())
	expected.MissingWeights(t, err, gone...)
}
